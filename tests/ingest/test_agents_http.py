"""``/mcp/`` answers as Django's pages do before any tool runs: host names
checked, plain HTTP redirected to HTTPS, and Django's security headers on
every answer (Django's own SecurityMiddleware, applied to the MCP app)."""

import asyncio

import pytest

from ingest.agents import http
from ingest.agents.http import mcp_app


def call(app, *, scheme="http", host="testserver", headers=()) -> tuple[int, dict]:
    """One request to the ASGI app: its status and headers."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": scheme,
        "path": "/mcp/",
        "raw_path": b"/mcp/",
        "query_string": b"",
        "root_path": "",
        "server": ("testserver", 443 if scheme == "https" else 80),
        "client": ("127.0.0.1", 5000),
        "headers": [(b"host", host.encode()), *((k.encode(), v.encode()) for k, v in headers)],
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["ingest.example.org"]


def test_plain_http_is_redirected_to_https(production):
    status, headers = call(mcp_app(), host="ingest.example.org")

    assert status == 301
    assert headers["location"] == "https://ingest.example.org/mcp/"


def test_answers_over_https_carry_djangos_security_headers(production):
    status, headers = call(
        mcp_app(), host="ingest.example.org", headers=[("x-forwarded-proto", "https")]
    )

    assert status == 401  # no token: refused after the security checks
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"


def test_a_host_not_allowed_is_refused_before_anything_else(production):
    status, _ = call(mcp_app(), host="evil.example.com")
    assert status == 400


def test_bodies_past_the_budget_wait_their_turn_then_are_told_to_retry(settings, monkeypatch):
    settings.INGEST_MCP_MAX_BODY_BYTES = 1000
    monkeypatch.setattr(http, "BUSY_WAIT_SECONDS", 0.2)
    release = asyncio.Event()

    async def reading(scope, receive, send):  # holds its body until released
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    budget = http.BodyBudget(reading)

    async def post(length: str | None) -> int:
        headers = [(b"content-length", length.encode())] if length is not None else []
        sent = []

        async def send(message):
            sent.append(message)

        await budget({"type": "http", "method": "POST", "headers": headers}, None, send)
        return sent[0]["status"]

    async def main():
        held = [asyncio.create_task(post(n)) for n in ("1000", "999999")]  # both count 1000
        await asyncio.sleep(0)
        refused = await asyncio.gather(post("1"), post(None))  # no room, even for 1 byte
        waiting = asyncio.create_task(post("500"))
        release.set()
        return await asyncio.gather(*held), refused, await waiting

    held, refused, waited = asyncio.run(main())

    assert held == [200, 200]
    assert refused == [503, 503]
    assert waited == 200
    assert budget.in_flight == 0
