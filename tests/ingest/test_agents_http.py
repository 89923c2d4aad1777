"""``/mcp/`` answers as Django's pages do before any tool runs: host names
checked, plain HTTP redirected to HTTPS, and Django's security headers on
every answer (Django's own SecurityMiddleware, applied to the MCP app)."""

import asyncio
import json
from types import SimpleNamespace

import pytest

from ingest.agents import answers, bodies
from ingest.agents.http import mcp_app
from tests.asgi import http_scope


def call(app, *, scheme="http", host="testserver", headers=()) -> tuple[int, dict]:
    """One request to the ASGI app: its status and headers."""
    scope = http_scope(
        scheme=scheme,
        headers=[(b"host", host.encode()), *((k.encode(), v.encode()) for k, v in headers)],
    )
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


class Budget:
    """A :class:`bodies.BodyBudget` around an app that holds each call, once
    its body is read, until ``release`` is set; each call's user and body
    given by the test (``None`` in ``parts``: the client goes quiet)."""

    def __init__(self):
        self.release = asyncio.Event()
        self.bodies = []

        async def holding(scope, receive, send):
            self.bodies.append((await receive())["body"])
            await self.release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        self.budget = bodies.BodyBudget(holding)

    async def post(self, length: str | None, *, user=1, parts=(b"",), pause=0.0) -> dict:
        headers = [(b"content-length", length.encode())] if length is not None else []
        scope = {"type": "http", "method": "POST", "headers": headers}
        scope["state"] = {answers.USER_KEY: SimpleNamespace(pk=user)}
        incoming = list(parts)
        sent = []

        async def receive():
            if incoming[0] is None:
                await asyncio.Event().wait()  # a client that says nothing more
            await asyncio.sleep(pause)
            part = incoming.pop(0)
            return {"type": "http.request", "body": part, "more_body": bool(incoming)}

        async def send(message):
            sent.append(message)

        await self.budget(scope, receive, send)
        answer = {"status": sent[0]["status"]}
        if sent[0]["status"] != 200:
            answer.update(json.loads(sent[1]["body"]))
        return answer


def test_bodies_past_the_budget_wait_their_turn_then_are_told_to_retry(settings, monkeypatch):
    settings.INGEST_MCP_MAX_BODY_BYTES = 1000
    monkeypatch.setattr(bodies, "BUSY_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(bodies, "SMALL_BODY_BYTES", 100)
    calls = Budget()

    async def main():
        held = [  # two users, 1000 each: the whole budget
            asyncio.create_task(calls.post("1000", user=1, parts=[b"x" * 1000])),
            asyncio.create_task(calls.post(None, user=2, parts=[b"{}"])),  # counts 1000
        ]
        await asyncio.sleep(0.05)
        small = asyncio.create_task(calls.post("100", user=5, parts=[b"s" * 100]))
        refused = await asyncio.gather(calls.post("101", user=3), calls.post(None, user=4))
        small_read = b"s" * 100 in calls.bodies  # while the budget is full
        waiting = asyncio.create_task(calls.post("500", user=3, parts=[b"y" * 500]))
        calls.release.set()
        return await asyncio.gather(*held, small), refused, small_read, await waiting

    answered, refused, small_read, waited = asyncio.run(main())

    assert [a["status"] for a in answered] == [200, 200, 200]
    assert [(r["status"], r["code"]) for r in refused] == [(503, "busy"), (503, "busy")]
    assert small_read  # a small call takes no share: the large ones do not queue it
    assert waited["status"] == 200
    assert calls.bodies == [b"x" * 1000, b"{}", b"s" * 100, b"y" * 500]  # each whole, once
    assert (calls.budget.in_flight, calls.budget.by_user) == (0, {})


def test_one_user_holds_at_most_one_largest_body_at_once(settings, monkeypatch):
    settings.INGEST_MCP_MAX_BODY_BYTES = 1000
    monkeypatch.setattr(bodies, "BUSY_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(bodies, "SMALL_BODY_BYTES", 5)
    calls = Budget()

    async def main():
        first = asyncio.create_task(calls.post("1000", user=1, parts=[b"x" * 1000]))
        await asyncio.sleep(0.05)
        # The budget has room for another 1000, but not this user's share.
        second = await calls.post("10", user=1, parts=[b"z" * 10])
        other = asyncio.create_task(calls.post("1000", user=2, parts=[b"w" * 1000]))
        await asyncio.sleep(0.05)
        calls.release.set()
        return await first, second, await other

    first, second, other = asyncio.run(main())

    assert (first["status"], second["status"], other["status"]) == (200, 503, 200)


def test_a_body_trickling_in_is_cut_off_with_408(settings, monkeypatch):
    settings.INGEST_MCP_MAX_BODY_BYTES = 1000
    monkeypatch.setattr(bodies, "BODY_GRACE_SECONDS", 0.2)
    monkeypatch.setattr(bodies, "MIN_BYTES_PER_SECOND", 10_000)  # by 0.3 s, 1000 bytes
    calls = Budget()
    calls.release.set()

    async def main():
        slow = calls.post("1000", parts=[b"x"] * 1000, pause=0.01)  # 10 s at this pace
        silent = calls.post("2", parts=[b"{", None])  # one byte, then nothing
        stalled = calls.post(None, parts=[b"x" * 500, None])  # fast, then nothing
        in_time = calls.post("1000", parts=[b"x" * 100] * 10, pause=0.01)
        return await asyncio.gather(slow, silent, stalled, in_time)

    *cut, in_time = asyncio.run(main())

    for answer in cut:
        assert (answer["status"], answer["code"]) == (408, "timeout")
        assert "too slowly" in answer["detail"]
    assert in_time["status"] == 200
    assert calls.budget.in_flight == 0


def test_a_body_over_the_limit_is_refused_with_413_as_it_says_or_streams(settings):
    settings.INGEST_MCP_MAX_BODY_BYTES = 1000
    calls = Budget()
    calls.release.set()

    async def main():
        said = calls.post("1001", parts=[])  # refused before any byte is read
        streamed = calls.post(None, parts=[b"x" * 600, b"x" * 600])
        understated = calls.post("10", parts=[b"x" * 600, b"x" * 600])
        return await asyncio.gather(said, streamed, understated)

    answers = asyncio.run(main())

    for answer in answers:
        assert (answer["status"], answer["code"]) == (413, "too_large")
        assert answer["detail"] == "the request's body is over the limit of 1000 bytes."
    assert calls.bodies == []
