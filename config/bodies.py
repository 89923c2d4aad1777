"""ASGI middleware around Django's handler: a bound on a request's body.

Django's ASGI handler reads a request's whole body (into memory, then a
temporary file) before anything looks at the request: the upload limits
(``ingest.upload_handlers``), authentication and CSRF all come after it. So
a body larger than any request may be is refused here, as its
Content-Length says so or as it streams past ``INGEST_MAX_REQUEST_BYTES``
(413, in the API's error shape under ``/api/``), instead of being written to
disk whole first. Anonymous callers are bounded by the same figure: telling
them apart would mean reading the session before the body.

A body sent without a Content-Length (chunked) is given one once it has been
read: Django parses a form only up to the length the request declares, so a
chunked upload read as having no files.
"""

import json

from django.conf import settings

JSON_PATHS = ("/api/",)


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app):
        self.app = app
        self.limit = settings.INGEST_MAX_REQUEST_BYTES

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = content_length(scope)
        if declared is not None and declared > self.limit:
            return await self.refuse(scope, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
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
            await self.refuse(scope, send)

    async def refuse(self, scope, send) -> None:
        detail = f"the request's body is over the limit of {self.limit} bytes."
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
