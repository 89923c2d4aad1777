"""The ASGI application runs Django's middleware as one synchronous chain."""

import asyncio
import os
import subprocess
import sys
from unittest import mock

import pytest
from asgiref.sync import SyncToAsync, iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler

from tests.conftest import ROOT


@pytest.fixture
def ours(monkeypatch):
    """``config.asgi``'s handler class. Importing that module turns the database
    pool on for the process it runs in, through ``os.environ``: kept from this
    one, whose children (the workers the end-to-end tests start) must not
    inherit it, as a pool's connections must not cross the work horse's fork."""
    monkeypatch.setenv("DATABASE_POOL", os.environ.get("DATABASE_POOL", "false"))
    from config.asgi import SyncMiddlewareASGIHandler

    return SyncMiddlewareASGIHandler


def get(handler, path: str) -> dict:
    """One GET through ``handler``, as an ASGI server sends it: the status, the
    body, and how many sync_to_async hand-offs it took."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    answer = {"body": b"", "hand_offs": 0}
    received = asyncio.Event()

    async def receive():
        if not received.is_set():
            received.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        else:
            answer["body"] += message.get("body", b"")

    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        answer["hand_offs"] += 1
        return await original(self, *args, **kwargs)

    with mock.patch.object(SyncToAsync, "__call__", counted):
        asyncio.run(handler(scope, receive, send))
    return answer


def test_the_middleware_chain_is_synchronous(ours):
    assert not iscoroutinefunction(ours()._middleware_chain)
    assert iscoroutinefunction(ASGIHandler()._middleware_chain)


@pytest.mark.django_db(transaction=True)
def test_a_request_crosses_to_the_sync_thread_once_for_the_whole_chain(ours):
    mine, djangos = get(ours(), "/healthz"), get(ASGIHandler(), "/healthz")

    assert mine["status"] == djangos["status"] == 200
    assert mine["body"] == djangos["body"] == b'{"status": "ok"}'
    # request_started, the chain, and the response's close: Django's own
    # handler also crosses once for each middleware's request and response hooks.
    assert mine["hand_offs"] <= 3 < 10 <= djangos["hand_offs"]


@pytest.mark.django_db(transaction=True)
def test_middleware_still_shapes_the_answer(ours):
    # The security and clickjacking middleware's headers, on a page and on a 404.
    for path, status in [("/healthz", 200), ("/no/such/page/", 404)]:
        answer = get(ours(), path)

        assert answer["status"] == status
        assert answer["headers"]["x-content-type-options"] == "nosniff"
        assert answer["headers"]["x-frame-options"] == "DENY"


def test_what_the_web_process_imported_is_out_of_the_collectors_reach():
    # A full collection walked all of it, 60 ms a time: the 16-client p99s
    # of bench/api_latency.py fell from 160-290 ms to 40-130 ms once frozen.
    code = (
        "import gc; before = gc.get_freeze_count(); import config.asgi; "
        "print(before, gc.get_freeze_count(), len(gc.get_objects()))"
    )
    env = {**os.environ, "DATABASE_POOL": "false", "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before, frozen, collected = map(int, done.stdout.split())
    assert before == 0
    assert frozen > 50_000
    assert collected < frozen / 10  # what a full collection still walks
