"""ASGI middleware around Django's handler: a bound on a request's body.

Django's ASGI handler reads a request's whole body (into memory, then a
temporary file) before anything looks at the request: the upload limits
(``ingest.upload_handlers``), authentication and CSRF all come after it. So
a body larger than the request may send is refused here, as its
Content-Length says so or as it streams past (413, in the API's error shape
under ``/api/``), instead of being written to disk whole first:

- a POST to the two upload views (the API's job create, the dashboard's)
  from a signed-in caller (a token, or a session, looked up here first)
  may send ``INGEST_MAX_REQUEST_BYTES``, the largest upload and its form;
- any other request, and an upload from a caller not signed in, may send
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (what Django parses of a form's fields)
  and a little more for a form's own parts.

A body sent without a Content-Length (chunked) is given one once it has been
read: Django parses a form only up to the length the request declares, so a
chunked upload read as having no files.
"""

import json
from http.cookies import CookieError, SimpleCookie
from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import close_old_connections
from django.urls import Resolver404, resolve

JSON_PATHS = ("/api/",)
UPLOAD_VIEWS = frozenset({"api:job-list", "ingest:job-create"})
FORM_PARTS_BYTES = 64 * 1024


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app):
        self.app = app
        self.upload_limit = settings.INGEST_MAX_REQUEST_BYTES
        fields = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # None: Django checks no size
        parts = self.upload_limit if fields is None else fields + FORM_PARTS_BYTES
        self.form_limit = min(parts, self.upload_limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = content_length(scope)
        if declared == 0 or scope["method"] in ("GET", "HEAD"):
            limit = self.form_limit  # no lookup for what sends nothing (or should not)
        else:
            limit = await self.limit_for(scope)
        if declared is not None and declared > limit:
            return await self.refuse(scope, send, limit)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
                if declared is None and not message.get("more_body", False):
                    # Django's handler builds the request from this same
                    # scope once it has read the body.
                    length = (b"content-length", str(received).encode())
                    scope["headers"] = [*scope["headers"], length]
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self.refuse(scope, send, limit)

    async def limit_for(self, scope) -> int:
        if scope["method"] != "POST" or not is_upload(scope["path"]):
            return self.form_limit
        if await sync_to_async(signed_in)(headers_of(scope)):
            return self.upload_limit
        return self.form_limit

    async def refuse(self, scope, send, limit: int) -> None:
        detail = f"the request's body is over the limit of {limit} bytes."
        if limit < self.upload_limit and scope["method"] == "POST" and is_upload(scope["path"]):
            detail = f"sign in to send files: until then a request's body may be {limit} bytes."
        if scope["path"].startswith(JSON_PATHS):
            body = json.dumps({"detail": detail, "code": "too_large"}).encode()
            kind = b"application/json"
        else:
            body = (detail[0].upper() + detail[1:]).encode()
            kind = b"text/plain; charset=utf-8"
        headers = [
            (b"content-type", kind),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # the rest of the body is not read
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def content_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            try:
                return max(int(value), 0)
            except ValueError:
                return None
    return None


def is_upload(path: str) -> bool:
    try:
        return resolve(path).view_name in UPLOAD_VIEWS
    except Resolver404:
        return False


def headers_of(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def signed_in(headers: dict[str, str]) -> bool:
    """Whether the request carries a token of an active user, or the session
    of a signed-in one: enough to be let send an upload's body. The view
    authenticates the caller again, in full, once the body is read."""
    from rest_framework.authtoken.models import Token  # needs the apps loaded

    try:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() in ("token", "bearer") and key.strip():
            return Token.objects.filter(key=key.strip(), user__is_active=True).exists()
        try:
            cookie = SimpleCookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
        except CookieError:
            return False
        if cookie is None or not cookie.value:
            return False
        store = import_module(settings.SESSION_ENGINE).SessionStore(cookie.value)
        return store.get(SESSION_KEY) is not None
    finally:
        close_old_connections()
