"""What ``/mcp/`` reads of a call and answers it with: bodies bounded in size,
in time and in how many are held at once (``BodyBudget``), and error
answers that do not grow with what a call sent."""

import asyncio
import json

from django.conf import settings

from config.bodies import content_length
from ingest.agents import answers

# The bodies one web process reads at once, in units of the largest body:
# a call's body is held whole, parsed and decoded (several copies of it),
# so this bounds what concurrent calls can take (bench.mcp_memory).
BODIES_IN_FLIGHT = 2
BUSY_WAIT_SECONDS = 30
# A body must keep up this rate after a grace, all the way: by t seconds,
# (t - grace) * rate bytes (16 MiB within 69 s). A client trickling bytes is
# cut off within seconds; one on a slower link sends smaller calls.
BODY_GRACE_SECONDS = 5
MIN_BYTES_PER_SECOND = 256 * 1024
# A body this small takes nothing from the budget: it costs little to hold,
# and the calls that fill the budget must not queue the small ones.
SMALL_BODY_BYTES = 64 * 1024
# An answer larger than this is checked for what it repeats of the call: the
# call's id (every answer carries it) is cut to ID_CHARS, and an error (the
# SDK puts an unknown method's name in it) is answered short. An answer a
# client does not read stays in memory until it leaves.
CHECKED_ANSWER_BYTES = 16 * 1024
ID_CHARS = 200


class BodyBudget:
    """ASGI middleware: the bodies this process reads at once are bounded, in
    total and per user, and each must arrive in time.

    - At most ``BODIES_IN_FLIGHT`` largest bodies' worth are held at once, and
      one user holds at most one largest body's worth: a call that does not
      fit waits for others to finish, up to ``BUSY_WAIT_SECONDS``, then is
      answered 503 with ``Retry-After``. A body's size is its
      Content-Length, or the largest allowed when it does not say; one of
      at most ``SMALL_BODY_BYTES`` takes no share, so no number of large
      calls holds up a small one.
    - The body is read here, whole, before the call runs, and must keep up
      ``MIN_BYTES_PER_SECOND`` after ``BODY_GRACE_SECONDS`` (408 otherwise):
      a client trickling bytes holds its share for seconds, not for as long
      as it likes.
    - A body over ``INGEST_MCP_MAX_BODY_BYTES`` is answered 413 as soon as its
      Content-Length says so, or as it streams past the limit.

    Refusals are in the API's error shape. The body is handed on as the one
    message it was read into, so the SDK's own read joins nothing and no
    second copy is made (``bench.mcp_memory``).
    """

    def __init__(self, app):
        self.app = app
        self.limit = settings.INGEST_MCP_MAX_BODY_BYTES
        self.budget = BODIES_IN_FLIGHT * self.limit
        self.in_flight = 0
        self.by_user: dict[object, int] = {}
        self.changed = asyncio.Condition()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = content_length(scope)
        if declared is not None and declared > self.limit:
            return await answers.refuse(send, *self.too_large())
        size = self.limit if declared is None else declared
        if size <= SMALL_BODY_BYTES:
            size = 0
        user = getattr(scope.get("state", {}).get(answers.USER_KEY), "pk", None)
        if size and not await self.take(user, size):
            return await answers.refuse(
                send,
                503,
                "the server is reading other large calls; retry in a few seconds.",
                "busy",
                [(b"retry-after", b"5")],
            )
        try:
            try:
                body = await self.read(receive)
            except _BodyRefused as refused:
                return await answers.refuse(send, *refused.args)
            if body is not None:  # None: the client left before sending it all
                await self.app(scope, _replay(body, receive), _bounded_answers(send))
        finally:
            if size:
                await self.give_back(user, size)

    async def take(self, user, size: int) -> bool:
        def fits():
            mine = self.by_user.get(user, 0)
            return self.in_flight + size <= self.budget and mine + size <= self.limit

        try:
            async with asyncio.timeout(BUSY_WAIT_SECONDS), self.changed:
                await self.changed.wait_for(fits)
                self.in_flight += size
                self.by_user[user] = self.by_user.get(user, 0) + size
        except TimeoutError:
            return False
        return True

    async def give_back(self, user, size: int) -> None:
        async with self.changed:
            self.in_flight -= size
            self.by_user[user] -= size
            if not self.by_user[user]:
                del self.by_user[user]
            self.changed.notify_all()

    async def read(self, receive) -> bytes | None:
        loop = asyncio.get_running_loop()
        parts, length, began = [], 0, loop.time()
        try:
            while True:
                # Each part is awaited until the body falls behind the rate.
                due = began + BODY_GRACE_SECONDS + length / MIN_BYTES_PER_SECOND
                async with asyncio.timeout_at(due):
                    message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                part = message.get("body", b"")
                length += len(part)
                if length > self.limit:
                    raise _BodyRefused(*self.too_large())
                parts.append(part)
                if not message.get("more_body", False):
                    return b"".join(parts)
        except TimeoutError:
            raise _BodyRefused(
                408,
                "the request's body arrived too slowly; send it again over a faster "
                "connection, or in smaller calls.",
                "timeout",
            ) from None

    def too_large(self) -> tuple[int, str, str]:
        return 413, f"the request's body is over the limit of {self.limit} bytes.", "too_large"


class _BodyRefused(Exception):
    """A body refused while it was read: ``args`` are the refusal's status,
    sentence and code."""


def _bounded_answers(send):
    """``send`` for the app: an answer of more than ``CHECKED_ANSWER_BYTES``
    that repeats a long id, or is an error, is sent bounded instead."""
    started = []

    async def sending(message):
        if message["type"] == "http.response.start":
            started.append(message)  # sent with the body, whose length may change
            return
        body = message.get("body", b"")
        whole = started and not message.get("more_body")
        if whole and len(body) > CHECKED_ANSWER_BYTES and (bounded := _bounded(body)):
            message = {**message, "body": bounded}
            headers = [(k, v) for k, v in started[0]["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(bounded)).encode()))
            started[0] = {**started[0], "headers": headers}
        if started:
            await send(started.pop())
        await send(message)

    return sending


def _bounded(body: bytes) -> bytes | None:
    """The JSON-RPC answer (or batch of them) in ``body`` with each long id
    cut and each error said short; None when none needed it."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    messages = answer if isinstance(answer, list) else [answer]
    changed = False
    for message in messages:
        if not isinstance(message, dict):
            continue
        if isinstance(message.get("id"), str) and len(message["id"]) > ID_CHARS:
            message["id"] = message["id"][:ID_CHARS] + "…"
            changed = True
        if isinstance(error := message.get("error"), dict):
            message["error"] = {
                "code": error.get("code", -32600),
                "message": str(error.get("message", ""))[:200],
                "data": "the call sent something too long to repeat here.",
            }
            changed = True
    return json.dumps(answer, ensure_ascii=False).encode() if changed else None


def _replay(body: bytes, receive):
    """``receive`` for the app: the body read, as one message, then the
    client's own messages (a disconnect when it leaves)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed
