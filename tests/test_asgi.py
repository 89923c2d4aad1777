"""The ASGI application runs Django's middleware as one synchronous chain."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from unittest import mock

import pytest
from asgiref.sync import SyncToAsync, iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished, request_started
from django.http import JsonResponse, StreamingHttpResponse
from django.urls import path as route

from tests.asgi import http_scope
from tests.conftest import ROOT


@pytest.fixture
def ours():
    """The handler class ``config.asgi`` serves (``config.handler``'s)."""
    from config.handler import SyncMiddlewareASGIHandler

    return SyncMiddlewareASGIHandler


def get(handler, path: str) -> dict:
    """One GET through ``handler``, as an ASGI server sends it: the status, the
    body, and how many sync_to_async hand-offs it took."""
    original = SyncToAsync.__call__
    hand_offs = 0

    async def counted(self, *args, **kwargs):
        nonlocal hand_offs
        hand_offs += 1
        return await original(self, *args, **kwargs)

    with mock.patch.object(SyncToAsync, "__call__", counted):
        answer = asyncio.run(request(handler, path))
    return {**answer, "hand_offs": hand_offs}


async def request(handler, path: str, *, query: bytes = b"", leaves: asyncio.Event | None = None):
    """One GET through ``handler`` on the running event loop: its status,
    headers and body. The client stays until ``leaves`` is set, if given."""
    scope = http_scope(path, method="GET", query=query)
    answer = {"body": b""}
    received = asyncio.Event()

    async def receive():
        if not received.is_set():
            received.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await (leaves or asyncio.Event()).wait()  # without it, the client never leaves
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        else:
            answer["body"] += message.get("body", b"")

    await handler(scope, receive, send)
    return answer


def test_the_middleware_chain_is_synchronous(ours):
    assert not iscoroutinefunction(ours()._middleware_chain)
    assert iscoroutinefunction(ASGIHandler()._middleware_chain)


@pytest.mark.django_db(transaction=True)
def test_a_request_crosses_to_the_sync_thread_once_for_the_whole_chain(ours):
    mine, djangos = get(ours(), "/healthz"), get(ASGIHandler(), "/healthz")

    assert mine["status"] == djangos["status"] == 200
    assert mine["body"] == djangos["body"] == b'{"status": "ok"}'
    # request_started, the chain and the response's close, all in one: Django's
    # own handler crosses for each, and for each middleware's hooks.
    assert mine["hand_offs"] == 1
    assert djangos["hand_offs"] >= 10


@pytest.mark.django_db(transaction=True)
def test_middleware_still_shapes_the_answer(ours):
    # The security and clickjacking middleware's headers, on a page and on a 404.
    for path, status in [("/healthz", 200), ("/no/such/page/", 404)]:
        answer = get(ours(), path)

        assert answer["status"] == status
        assert answer["headers"]["x-content-type-options"] == "nosniff"
        assert answer["headers"]["x-frame-options"] == "DENY"


# Views for the thread tests below (``pytest.mark.urls`` points here): each
# answers with the thread it ran on, as its place in THREADS. The thread
# objects are kept there: a thread's id can be reused once it has stopped.
THREADS: list[threading.Thread] = []
MEETING = threading.Barrier(2, timeout=10)


def where(request):
    current = threading.current_thread()
    if current not in THREADS:
        THREADS.append(current)
    return JsonResponse({"thread": THREADS.index(current)})


def meet(request):
    MEETING.wait()  # returns only once two requests are in this view at once
    return where(request)


STREAM = {"sent": 0, "closed": False}


def endless(request):
    """A live stream: a line every few milliseconds until its reader leaves."""

    async def lines():
        try:
            while True:
                STREAM["sent"] += 1
                yield b"tick\n"
                await asyncio.sleep(0.005)
        finally:
            STREAM["closed"] = True

    return StreamingHttpResponse(lines(), content_type="text/plain")


urlpatterns = [route("where/", where), route("meet/", meet), route("endless/", endless)]


@pytest.fixture
def signalled():
    """The request_started and request_finished signals sent, in order."""
    sent = []

    def started(**kwargs):
        sent.append("started")

    def finished(**kwargs):
        sent.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    yield sent
    request_started.disconnect(started)
    request_finished.disconnect(finished)


@pytest.mark.django_db(transaction=True)
def test_a_whole_response_is_closed_once_with_the_signals_paired(ours, signalled):
    answer = get(ours(), "/healthz")
    # A query string that is not UTF-8: no request is made of it (Django's 400).
    refused = asyncio.run(request(ours(), "/healthz", query=b"\xff"))

    assert answer["status"] == 200
    assert refused["status"] == 400
    assert signalled == ["started", "finished", "started", "finished"]


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_a_stream_stops_and_closes_when_its_reader_leaves(ours, signalled):
    STREAM.update(sent=0, closed=False)

    async def read_then_leave():
        leaves = asyncio.Event()
        async with asyncio.timeout(10):
            reading = asyncio.create_task(request(ours(), "/endless/", leaves=leaves))
            while STREAM["sent"] < 3:
                await asyncio.sleep(0.005)
            leaves.set()
            return await reading

    answer = asyncio.run(read_then_leave())
    sent = STREAM["sent"]

    assert answer["status"] == 200
    assert answer["body"].startswith(b"tick\ntick\n")
    assert STREAM["closed"]
    assert signalled == ["started", "finished"]
    time.sleep(0.05)
    assert STREAM["sent"] == sent  # nothing more once it closed


def threads_of(handler, *rounds: list[str]) -> list[list[int]]:
    """The threads ``handler`` ran each request on (places in THREADS); the
    paths of a round are sent at once, the rounds one after the other, all on
    one event loop."""

    async def serve():
        answers = []
        for paths in rounds:
            answers.append(await asyncio.gather(*(request(handler, p) for p in paths)))
        return answers

    answers = asyncio.run(serve())
    assert all(answer["status"] == 200 for done in answers for answer in done), answers
    return [[json.loads(answer["body"])["thread"] for answer in done] for done in answers]


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_requests_one_after_another_reuse_a_thread(ours):
    # Django's own handler starts a thread for each request, and another to
    # stop it.
    rounds = threads_of(ours(), ["/where/"], ["/where/"], ["/where/"])

    assert len({thread for (thread,) in rounds}) == 1
    assert THREADS[rounds[0][0]] is not threading.current_thread()  # not the event loop's
    (first,), (second,) = threads_of(ASGIHandler(), ["/where/"], ["/where/"])
    assert first != second


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_requests_at_once_each_have_a_thread_of_their_own(ours):
    # Two requests sharing a thread would wait for each other at the meeting
    # forever (a BrokenBarrierError, then a 500, after its timeout).
    handler = ours()
    (first, second), (again,) = threads_of(handler, ["/meet/", "/meet/"], ["/where/"])

    assert first != second
    assert again in (first, second)
    assert len(handler.threads.idle) == 2


def test_idle_threads_beyond_the_kept_number_stop():
    from config.handler import RequestThreads

    threads = RequestThreads(keep=1)
    kept, extra = threads.take(), threads.take()
    for executor in (kept, extra):
        assert executor.submit(threading.get_ident).result(timeout=5)
        threads.give_back(executor)

    assert threads.idle == [kept]
    with pytest.raises(RuntimeError):  # shut down
        extra.submit(threading.get_ident)
    assert threads.take() is kept
    assert threads.take() is not kept


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
