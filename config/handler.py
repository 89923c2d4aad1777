"""Django's ASGI handler with its request's hand-offs folded into one, on
threads kept from one request to the next: ``PRIVATE_APIS``' "asgi" part.

It overrides ``ASGIHandler.handle`` and uses the handler's own steps
(``read_body``, ``create_request``, ``send_response``,
``listen_for_disconnect``), which are not public API: docs/internals.md says
what it relies on and what it buys, and ``tests/test_internals.py`` fails,
naming the Django version, when they change.
"""

import asyncio
import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix


class SyncMiddlewareASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the middleware run as one synchronous chain.

    Django's own runs each middleware in async mode where it can, and every
    middleware here (Django's, django-htmx's, django-axes') is a
    ``MiddlewareMixin``, whose async mode calls each ``process_request`` and
    ``process_response`` through a ``sync_to_async`` of its own: 16 thread
    hand-offs for one request, most of a health check's time (bench.internals,
    "asgi"). Here the chain is built synchronous, as under WSGI, and a request
    crosses to the sync thread once for all of it (``respond``).
    An async view still runs on the event loop (Django's sync chain calls it
    through ``async_to_sync``), and its streaming response is still sent
    asynchronously by ``handle``: the live event streams keep working.

    ``handle`` is Django's, with its other two hand-offs folded into that
    one: the ``request_started`` signal is sent on the request's thread
    before the chain, and a whole (not streamed) response is closed there
    after it (``request_finished``, which gives the database connection back
    to the pool) before it is sent. One hand-off instead of three, and no
    task watching for the client to leave while a whole response is made and
    sent. A streamed response is sent as Django sends it, stopped when the
    client leaves, then closed.
    """

    def __init__(self):
        super().__init__()
        self.threads = RequestThreads()

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)  # which refuses it
        executor = self.threads.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give_back(executor)

    async def get_response_async(self, request):
        # Not called by handle below (see respond), but Django's own callers
        # of it get the synchronous chain run on the request's thread.
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            request, error_response = self.create_request(scope, body_file)
            respond = functools.partial(self.respond, scope, request, error_response)
            response = await sync_to_async(respond, thread_sensitive=True)()
            if response.streaming:
                await self.stream(response, receive, send)
            else:
                await self.send_response(response, send)
        finally:
            body_file.close()

    def respond(self, scope, request, error_response):
        """On the request's thread: ``request_started``, the middleware chain
        and the view (or the answer to a request that could not be read), and
        the close of a whole response."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        if request is None:
            response = error_response
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size  # as Django's run_get_response sets it
        if not response.streaming:
            response.close()  # its content is already made
        return response

    async def stream(self, response, receive, send):
        """Send a streamed response as Django's ``handle`` does: watching for
        the client to leave, and then stopping, so that a live event stream
        does not outlive its reader. Closed once done."""
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(self.send_response(response, send)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if not task.done():
                    task.cancel()
                # The client left, or the stream ended first.
                with contextlib.suppress(RequestAborted, asyncio.CancelledError):
                    await task
        finally:
            await sync_to_async(response.close, thread_sensitive=True)()


class RequestThreads:
    """The threads a process runs its requests' synchronous code on, kept from
    one request to the next, one request at a time on each.

    Django's handler gives every request a thread of its own
    (``ThreadSensitiveContext()``, so that one request's database connection
    and thread-locals are never another's while they run) and then a second
    thread to join the first: two threads started and stopped for each
    request. Here a request
    takes an idle thread, or a new one when all are busy, and gives it back
    when it is done, as a threaded WSGI server reuses its threads: a thread
    still serves one request at a time. At most ``keep`` idle threads are
    kept (as many as the busiest moment needed, up to that); the rest stop.
    Only the event loop's thread takes and gives back, so no lock is needed.
    """

    def __init__(self, keep: int = 32):
        self.keep = keep
        self.idle: list[ThreadPoolExecutor] = []

    def take(self) -> ThreadPoolExecutor:
        # The most recently used first: its thread (and memory) is warm.
        if self.idle:
            return self.idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self.idle) < self.keep:
            self.idle.append(executor)
        else:
            executor.shutdown(wait=False)


def django_handler() -> ASGIHandler:
    """Django's ASGI handler as ``PRIVATE_APIS`` asks for it: this module's, or
    stock Django's (what ``get_asgi_application()`` returns once set up)."""
    if "asgi" in settings.PRIVATE_APIS:
        return SyncMiddlewareASGIHandler()
    return ASGIHandler()
