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
at once per process and per user (``ingest.agents.bodies``); no stream
left open.
"""

import io
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
from config.bodies import headers_of
from config.middleware import QueryCharactersASGI
from ingest.agents import answers
from ingest.agents.bodies import BodyBudget
from ingest.agents.server import build_server

PATH = "/mcp/"
USER_KEY = answers.USER_KEY


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
            domain, _ = split_domain_port(headers_of(scope).get("host", ""))
            if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
                return await answers.refuse(
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
            return await answers.send_whole(redirect, send)
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
            return await answers.refuse(
                send,
                405,
                "this server keeps no stream open: POST each JSON-RPC message, "
                "and read its answer from the response.",
                "method_not_allowed",
                [(b"allow", b"POST, DELETE")],
            )
        await self.app(scope, receive, send)


class TokenAuth:
    """ASGI middleware: 401 in the API's error shape without a valid token."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        scheme, _, key = headers_of(scope).get("authorization", "").partition(" ")
        user = None
        if scheme.lower() in ("bearer", "token") and key.strip():
            user = await sync_to_async(token_user)(key.strip())
        if user is None:
            return await answers.refuse(
                send,
                401,
                "send your API token as 'Authorization: Bearer <token>'.",
                "not_authenticated",
            )
        if wait := await sync_to_async(throttled)(user):
            throttle = exceptions.Throttled(wait)
            retry_after = [(b"retry-after", str(math.ceil(wait)).encode())]
            return await answers.refuse(send, 429, str(throttle.detail), "throttled", retry_after)
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
