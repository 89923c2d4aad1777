"""Server-Sent Events: a project's live job events, for the dashboard.

``jobs.events`` publishes every transition and progress step on the Redis
channel ``ingest:project:<project_id>``. This async view relays the events of
the jobs the page shows (``?jobs=<id>,<id>``), and with ``?new=1`` the jobs
created after the page loaded, which it then follows too. Nothing in it
blocks: the membership check runs in a thread and Redis is read through
``redis.asyncio``, so one server process holds many open streams.

A browser that cannot keep the stream open polls instead; see ingest/static/ingest/live.js.

The membership is checked again every ``MEMBERSHIP_CHECK_SECONDS`` while the
stream is open, so a member removed from the project (by an owner, in admin,
or with their account) stops receiving its events within seconds; the
browser's reconnection then gets the 404 a non-member gets. One small query
per open stream every few seconds, against a leak that would otherwise last
as long as the tab stays open.

Each user holds at most ``INGEST_MAX_STREAMS_PER_USER`` open streams in one
web process (tabs, windows, scripts): one more is answered 429 with a
sentence, and the page polls instead. A stream's place is given back when
its response is closed, which Django does however the stream ended: the
member left, Redis failed, or the client went away.
"""

import json
import logging
import threading
import time
import uuid
from collections import Counter

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET
from redis.exceptions import RedisError

from ingest import selectors, services
from ingest.models import project_channel

logger = logging.getLogger(__name__)

MAX_JOBS = 200  # a page shows at most a few dozen; more is a client bug
KEEPALIVE_SECONDS = 15
MEMBERSHIP_CHECK_SECONDS = 1.5  # a removed member's stream ends within about this
RETRY_MS = 2000
LOG_IN = "Log in to follow this project."
TOO_MANY_STREAMS = (
    "You follow {limit} live pages already; close one, and this page updates "
    "itself meanwhile by asking every few seconds."
)
RETRY_AFTER_SECONDS = 30


class OpenStreams:
    """How many streams each user holds open in this process."""

    def __init__(self):
        self.held = Counter()
        # Taken on the event loop, given back on the thread Django closes a response on.
        self.lock = threading.Lock()

    def take(self, user_id, limit: int) -> bool:
        with self.lock:
            if limit and self.held[user_id] >= limit:
                return False
            self.held[user_id] += 1
            return True

    def give_back(self, user_id) -> None:
        with self.lock:
            self.held[user_id] -= 1
            if self.held[user_id] <= 0:
                del self.held[user_id]


open_streams = OpenStreams()


class HeldStream:
    """A stream's frames and the place it holds: Django calls ``close()`` on a
    response's content once the response is done, whether the stream ended or
    the client left, so the place is given back exactly once either way."""

    def __init__(self, frames, user_id):
        self.frames = frames
        self.user_id = user_id
        self.closed = False

    def __aiter__(self):
        return self.frames

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            open_streams.give_back(self.user_id)


def parse_job_ids(raw: str) -> set[str]:
    ids = set()
    for part in raw.split(",")[:MAX_JOBS]:
        try:
            ids.add(str(uuid.UUID(part.strip())))
        except ValueError:
            continue
    return ids


def is_member(user, project_id) -> bool:
    try:
        selectors.membership_get(user=user, project_id=project_id)
    except selectors.NotFound:
        return False
    finally:
        # A stream lasts for hours: it must not keep a database connection.
        # (One inside a transaction belongs to its caller: a test's.)
        if not connection.in_atomic_block:
            connection.close()
    return True


def frame(event: dict) -> str:
    return f"event: job\ndata: {json.dumps(event)}\n\n"


class Relay:
    """Which events a stream passes on: the page's jobs, and new ones if asked."""

    def __init__(self, job_ids: set[str], *, follow_new: bool):
        self.job_ids = job_ids
        self.follow_new = follow_new

    def wants(self, event: dict) -> bool:
        job_id = event.get("job")
        if job_id in self.job_ids:
            return True
        if self.follow_new and event.get("action") == "create":
            self.job_ids.add(job_id)
            return True
        return False


async def events(client: aioredis.Redis, project_id, relay: Relay, still_member):
    """The stream's frames; it ends once ``still_member()`` answers False."""
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(project_channel(project_id))
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        next_check = time.monotonic() + MEMBERSHIP_CHECK_SECONDS
        next_keepalive = time.monotonic() + KEEPALIVE_SECONDS
        while True:
            now = time.monotonic()
            if now >= next_check:
                if not await still_member():
                    logger.info("event stream for project %s ended: no longer a member", project_id)
                    return
                next_check = time.monotonic() + MEMBERSHIP_CHECK_SECONDS
            if now >= next_keepalive:
                yield ": keep-alive\n\n"
                next_keepalive = now + KEEPALIVE_SECONDS
            message = await pubsub.get_message(
                ignore_subscribe_messages=True,
                timeout=max(0.0, min(next_check, next_keepalive) - time.monotonic()),
            )
            if message is None:
                continue
            try:
                event = json.loads(message["data"])
            except (TypeError, ValueError):
                continue
            if relay.wants(event):
                yield frame(event)
    except RedisError as exc:
        # Ending the stream makes the browser reconnect; it polls meanwhile.
        logger.warning("event stream for project %s lost Redis: %s", project_id, exc)
    finally:
        await pubsub.aclose()
        await client.aclose()


@require_GET
async def project_events(request, project_id):
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(LOG_IN, status=403, content_type="text/plain")
    # Answered here rather than raised: Django renders an async view's 404
    # page in a thread of its own, which would open a database connection.
    if not await sync_to_async(is_member)(user, project_id):
        return HttpResponse(services.NOT_A_MEMBER, status=404, content_type="text/plain")
    relay = Relay(
        parse_job_ids(request.GET.get("jobs", "")), follow_new=request.GET.get("new") == "1"
    )
    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except RedisError as exc:
        await client.aclose()
        logger.warning("event stream refused, Redis unavailable: %s", exc)
        return HttpResponse("Live updates are unavailable.", status=503, content_type="text/plain")

    async def still_member() -> bool:
        return await sync_to_async(is_member)(user, project_id)

    limit = settings.INGEST_MAX_STREAMS_PER_USER
    if not open_streams.take(user.pk, limit):
        await client.aclose()
        response = HttpResponse(
            TOO_MANY_STREAMS.format(limit=limit), status=429, content_type="text/plain"
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    frames = events(client, project_id, relay, still_member)
    response = StreamingHttpResponse(HeldStream(frames, user.pk), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy must pass each event on at once
    return response
