"""``/mcp/``: the agents' tools over streamable HTTP, authenticated with the API token.

The client sends the token the API takes, as ``Authorization: Bearer <token>``
(what MCP clients send) or DRF's ``Authorization: Token <token>``. Each request
is authenticated on its own and every tool acts as that token's user.

Stateless, with JSON answers: no session lives in one web process, so any
number of uvicorn processes behind a balancer serve ``/mcp/`` alike, as they
serve the API. The SDK's own DNS-rebinding check only knows loopback names;
Django's ``ALLOWED_HOSTS`` is applied instead, as for every other page.

Bounded as the API is: the API's rate limits, in the same counts; a body of
at most ``INGEST_MCP_MAX_BODY_BYTES`` (refused as it streams in, past its
Content-Length or the limit), arriving in time, and only so many bodies read
at once per process and per user; no stream left open.
"""

import asyncio
import io
import json
import math
from types import SimpleNamespace

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import HttpResponse
from django.http.request import split_domain_port, validate_host
from django.middleware.security import SecurityMiddleware
from mcp.server.transport_security import TransportSecuritySettings
from rest_framework import exceptions
from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings

from config import auth
from config.middleware import QueryCharactersASGI
from ingest.agents.server import build_server

PATH = "/mcp/"
USER_KEY = "ingest_user"
# The bodies one web process reads at once, in units of the largest body:
# a call's body is held whole, parsed and decoded (several copies of it),
# so this bounds what concurrent calls can take (bench.mcp_memory).
BODIES_IN_FLIGHT = 2
BUSY_WAIT_SECONDS = 30
# A body must arrive within the grace plus its size at this rate: 16 MiB
# within 42 s. A client on a slower link sends smaller calls.
BODY_GRACE_SECONDS = 10
MIN_BYTES_PER_SECOND = 512 * 1024


def user_for(ctx):
    """The user the request's token belongs to (set by :class:`TokenAuth`)."""
    return ctx.request_context.request.state.ingest_user


def token_user(key: str):
    try:
        token = Token.objects.select_related("user").filter(key=key).first()
    finally:
        close_old_connections()
    if token is None or not token.user.is_active or auth.refused_demo(token.user):
        return None
    return token.user


class AllowedHosts:
    """ASGI middleware: 400 in the API's error shape for a host name Django's
    ``ALLOWED_HOSTS`` does not allow."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            domain, _ = split_domain_port(_headers(scope).get("host", ""))
            if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
                return await _refuse(
                    send, 400, "this host name is not allowed here.", "invalid_host"
                )
        await self.app(scope, receive, send)


class DjangoSecurity:
    """ASGI middleware: Django's own ``SecurityMiddleware`` for ``/mcp/``, which
    Django's handler does not serve. A plain-HTTP request is redirected to
    HTTPS as every page is (``SECURE_SSL_REDIRECT``), and every answer carries
    the headers Django adds to a page's: HSTS over HTTPS, nosniff, the
    referrer and cross-origin opener policies."""

    def __init__(self, app):
        self.app = app
        self.security = SecurityMiddleware(
            lambda request: None
        )  # settings read once, as Django does

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = ASGIRequest(scope, io.BytesIO())
        if redirect := self.security.process_request(request):
            return await _send_whole(redirect, send)
        added = self.security.process_response(request, HttpResponse()).headers
        extra = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in added.items()
            if name.lower() != "content-type"
        ]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class NoStream:
    """ASGI middleware: ``GET /mcp/`` (a stream for messages from the server)
    is answered 405, as the MCP specification lets a server that offers no
    such stream answer. This server answers each POST with JSON and never
    sends a message of its own, so an open stream would only hold a
    connection (and a task) until the client left."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET":
            return await _refuse(
                send,
                405,
                "this server keeps no stream open: POST each JSON-RPC message, "
                "and read its answer from the response.",
                "method_not_allowed",
                [(b"allow", b"POST, DELETE")],
            )
        await self.app(scope, receive, send)


class BodyBudget:
    """ASGI middleware: the bodies this process reads at once are bounded, in
    total and per user, and each must arrive in time.

    - At most ``BODIES_IN_FLIGHT`` largest bodies' worth are held at once, and
      one user holds at most one largest body's worth: a call that does not
      fit waits for others to finish, up to ``BUSY_WAIT_SECONDS``, then is
      answered 503 with ``Retry-After``. A body's size is its
      Content-Length, or the largest allowed when it does not say.
    - The body is read here, whole, before the call runs, and must arrive
      within ``BODY_GRACE_SECONDS`` plus its size at ``MIN_BYTES_PER_SECOND``
      (408 otherwise): a client trickling bytes holds its share for seconds,
      not for as long as it likes.
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
        declared = self.declared_size(scope)
        if declared is not None and declared > self.limit:
            return await _refuse(send, *self.too_large())
        size = self.limit if declared is None else declared
        user = getattr(scope.get("state", {}).get(USER_KEY), "pk", None)
        if not await self.take(user, size):
            return await _refuse(
                send,
                503,
                "the server is reading other large calls; retry in a few seconds.",
                "busy",
                [(b"retry-after", b"5")],
            )
        try:
            try:
                body = await self.read(receive, size)
            except _BodyRefused as refused:
                return await _refuse(send, *refused.args)
            if body is not None:  # None: the client left before sending it all
                await self.app(scope, _replay(body, receive), send)
        finally:
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

    async def read(self, receive, size: int) -> bytes | None:
        parts, length = [], 0
        try:
            async with asyncio.timeout(BODY_GRACE_SECONDS + size / MIN_BYTES_PER_SECOND):
                while True:
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

    @staticmethod
    def declared_size(scope) -> int | None:
        try:
            return max(int(_headers(scope).get("content-length", "")), 0)
        except ValueError:
            return None


class _BodyRefused(Exception):
    """A body refused while it was read: ``args`` are the refusal's status,
    sentence and code."""


def _replay(body: bytes, receive):
    """``receive`` for the app: the body read, as one message, then the
    client's own messages (a disconnect when it leaves)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


class TokenAuth:
    """ASGI middleware: 401 in the API's error shape without a valid token."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        scheme, _, key = _headers(scope).get("authorization", "").partition(" ")
        user = None
        if scheme.lower() in ("bearer", "token") and key.strip():
            user = await sync_to_async(token_user)(key.strip())
        if user is None:
            return await _refuse(
                send,
                401,
                "send your API token as 'Authorization: Bearer <token>'.",
                "not_authenticated",
            )
        if wait := await sync_to_async(throttled)(user):
            throttle = exceptions.Throttled(wait)
            retry_after = [(b"retry-after", str(math.ceil(wait)).encode())]
            return await _refuse(send, 429, str(throttle.detail), "throttled", retry_after)
        state = {**scope.get("state", {}), USER_KEY: user}
        await self.app({**scope, "state": state}, receive, send)


def throttled(user) -> float | None:
    """Seconds to wait when the API's rate limits refuse ``user`` a request
    now, counted with the API's own throttles, in the same counts: a call
    here and a request there come out of one allowance. None when allowed."""
    caller = SimpleNamespace(user=user, META={})
    waits = []
    for throttle_class in api_settings.DEFAULT_THROTTLE_CLASSES:
        throttle = throttle_class()
        if not throttle.allow_request(caller, None):
            waits.append(throttle.wait() or 0.0)
    return max(waits) if waits else None


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _send_whole(response, send) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


async def _refuse(send, status: int, detail: str, code: str, extra=()) -> None:
    body = json.dumps({"detail": detail, "code": code}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.extend(extra)
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="api"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def mcp_app():
    """The Starlette app serving ``/mcp/``; its lifespan runs the SDK's session manager."""
    app = build_server(user_for).streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        json_response=True,
        max_request_body_size=settings.INGEST_MCP_MAX_BODY_BYTES,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    # The last added runs first: the host, Django's security, the address's
    # characters, no stream, the token and the rate limits, then what a call may hold.
    app.add_middleware(BodyBudget)
    app.add_middleware(TokenAuth)
    app.add_middleware(NoStream)
    app.add_middleware(QueryCharactersASGI)
    app.add_middleware(DjangoSecurity)
    app.add_middleware(AllowedHosts)
    return app
