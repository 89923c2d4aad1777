"""A NUL in a request's address is refused at the door, with a sentence.

PostgreSQL's text values cannot hold U+0000 (it is the only character they
refuse; other control characters are stored as sent), so a NUL that reached
a query as a filter, a search or a key (``/admin/ingest/ingestjob/?name=%00``,
``.../jobs/new/outcome/?key=%00``) answered 500. No page, filter or API
parameter has a use for one, so every request whose path or query string
holds one is answered 400 here, before any view: JSON in the API's error
shape under ``/api/`` and ``/mcp/``, a plain sentence elsewhere.

``QueryCharacters`` is the Django middleware; ``QueryCharactersASGI`` is the
same check for ``/mcp/``, which Django's handler does not serve.
"""

import json
from urllib.parse import unquote

from django.http import HttpResponse, JsonResponse

REFUSED = "\x00"
DETAIL = "the address holds a NUL character (%00), which no parameter here takes; remove it."
CODE = "invalid"
JSON_PATHS = ("/api/", "/mcp")


def refused(path: str, query_string: str) -> bool:
    """Whether the (decoded) path or the query string, once decoded, holds a NUL."""
    query = unquote(query_string.replace("+", " "), errors="replace")
    return REFUSED in path or REFUSED in query


class QueryCharacters:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if refused(request.path, request.META.get("QUERY_STRING", "")):
            if request.path.startswith(JSON_PATHS):
                return JsonResponse({"detail": DETAIL, "code": CODE}, status=400)
            return HttpResponse(
                DETAIL[0].upper() + DETAIL[1:], status=400, content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)


class QueryCharactersASGI:
    """ASGI middleware: the same refusal, in the API's error shape."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and refused(
            scope["path"], scope.get("query_string", b"").decode("latin-1")
        ):
            body = json.dumps({"detail": DETAIL, "code": CODE}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
