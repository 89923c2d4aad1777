"""Liveness and readiness for load balancers and orchestrators: JSON, no login.

``/healthz`` says the process answers. ``/readyz`` says whether the service
can do its work: the database, Redis and the upload storage answer, and at least one worker is
alive to take jobs; it also reports how long the oldest queued job has
waited, the first sign of a queue nobody drains.

A worker is alive when it beat within ``jobs.worker.WORKER_TTL`` seconds, not
merely while RQ still holds its key. Why a dependency fails (its address,
the error it raised) is shown to staff only, and written to the log; anyone
else reads which one failed, in a sentence.
"""

import logging

import redis
from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rq.queue import Queue

from ingest import storage
from ingest.models import IngestJob
from ingest.services import QUEUE_NAME
from jobs.models import JobStatus
from jobs.worker import live_workers

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.0  # seconds: a dead dependency must not hang the probe


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT
    )
    detailed = shows_details(request)
    try:
        checks = {
            "database": check_database(detailed),
            "redis": check_redis(client, detailed),
            "workers": check_workers(client),
            "storage": storage.check(detailed=detailed),
        }
    finally:
        client.close()
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def shows_details(request) -> bool:
    """Staff see why a dependency fails; a database that does not answer
    cannot say who is staff, and then nobody does."""
    try:
        return request.user.is_active and request.user.is_staff
    except DatabaseError:
        return False


def failure(sentence: str, exc: Exception, detailed: bool) -> str:
    """``sentence``, with the error itself for staff; logged either way."""
    logger.warning("readiness: %s (%s)", sentence, exc)
    return f"{sentence.rstrip('.')} ({exc})." if detailed else sentence


def check_database(detailed: bool = False) -> dict:
    try:
        oldest = (
            IngestJob.objects.filter(status=JobStatus.QUEUED)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
    except DatabaseError as exc:
        return {"ok": False, "error": failure("the database does not answer.", exc, detailed)}
    waited = round((timezone.now() - oldest).total_seconds(), 3) if oldest else None
    return {"ok": True, "oldest_queued_job_age_seconds": waited}


def check_redis(client: redis.Redis, detailed: bool = False) -> dict:
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "error": failure("Redis does not answer.", exc, detailed)}
    return {"ok": True}


def check_workers(client: redis.Redis) -> dict:
    try:
        count = live_workers(Queue(QUEUE_NAME, connection=client))
    except redis.RedisError:
        return {"ok": False, "count": None, "error": "workers unknown: Redis does not answer."}
    if not count:
        return {"ok": False, "count": 0, "error": "no worker is listening on the ingest queue."}
    return {"ok": True, "count": count}
