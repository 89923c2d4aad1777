"""Reading files in a child process of the work horse, with its memory bounded.

The readers of PDF and Office files are C libraries (PDFium, lxml) that hold
a whole page or part in memory, and a small file can ask them for
gigabytes: a 1.5 MB PDF whose one content stream inflates to 1.6 GB took a
work horse to 2.45 GB, and PDFium ends the process when an allocation
fails. So such files are read by a child process of the horse whose address
space may grow by at most ``INGEST_READ_MEMORY_MB``: past it the child fails
or dies, that file fails with a sentence saying why, and the next file is
read by a new child.

A child reads one file after another, so a job pays for one fork, not one
per file (a fork costs milliseconds per hundred MB here: ``bench.isolation``);
it leaves once it has grown by half its allowance, and the next file gets a
fresh one. It reports its progress through a pipe and the horse relays it;
meanwhile the horse checkpoints, and kills the child when the job is
cancelled or the worker shuts down. The child touches no database
connection and leaves with ``os._exit``, so nothing it inherited from the
horse (sockets, threads' state) is used or closed twice; it also leaves when
the horse does (its request pipe closes).
"""

import os
import pickle
import resource
import select
import signal
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ingest.pipeline.errors import ExtractionError, UnsupportedType

# What a reader of these kinds holds in memory grows with the document, not
# with what has been read of it; the other readers stream.
ISOLATED_KINDS = frozenset({"pdf", "docx", "pptx", "xlsx", "epub"})
POLL_SECONDS = 0.05
HEADER = struct.Struct("!I")
Read = Callable[..., object]  # read(*request, on_read, on_share) -> the file's result


def available() -> bool:
    """Forking with a bounded address space needs Linux (its /proc and RLIMIT_AS)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class Reader:
    """A child process that runs ``read(*request, on_read, on_share)`` for the
    horse, one request after another, within ``limit_mb`` of its start."""

    def __init__(self, read: Read, limit_mb: int):
        self.read = read
        self.limit_mb = limit_mb
        self.pid = 0
        self.owner = os.getpid()

    def __call__(self, *request, info: dict, on_read, on_share, checkpoint):
        """The result of one request, as if read here; what the child put in
        ``info`` is put in ``info``."""
        if not self.alive():
            self.start()
        try:
            os.write(self.requests, _framed((request, info)))
            outcome = self.relay(on_read, on_share, checkpoint)
        except BaseException:
            self.stop()  # mid-file: a cancel, a shutdown, the pipe gone
            raise
        if outcome is None:  # it died reading this file
            status = self.stop()
            raise _stopped(status, self.limit_mb)
        retiring, answer = outcome
        if retiring:
            self.stop()
        return _result(answer, info, self.limit_mb)

    def alive(self) -> bool:
        return self.pid != 0 and os.waitpid(self.pid, os.WNOHANG) == (0, 0)

    def start(self) -> None:
        self.stop()
        request_out, self.requests = os.pipe()
        self.answers, answer_in = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            os.close(self.requests)
            os.close(self.answers)
            _serve(self.read, request_out, answer_in, self.limit_mb)
        os.close(request_out)
        os.close(answer_in)

    def stop(self) -> int:
        """End the child, if any, and say how it ended (its wait status)."""
        if not self.pid:
            return 0
        for fd in (self.requests, self.answers):
            os.close(fd)
        pid, self.pid = self.pid, 0
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        return status

    def relay(self, on_read, on_share, checkpoint) -> tuple | None:
        """Relay the child's progress until it tells how the file went, and
        whether it leaves now (None if it ended without a word: killed)."""
        buffer = b""
        while True:
            ready, _, _ = select.select([self.answers], [], [], POLL_SECONDS)
            checkpoint()
            if not ready:
                continue
            chunk = os.read(self.answers, 65536)
            if not chunk:
                return None
            buffer += chunk
            while (message := _unframe(buffer)) is not None:
                (kind, *values), buffer = message
                if kind == "read":
                    on_read(*values)
                elif kind == "share":
                    if on_share is not None:
                        on_share(*values)
                else:
                    return values  # "end": whether it leaves, and the answer


def _serve(read: Read, requests: int, answers: int, limit_mb: int) -> None:
    """The child's life: read each request and answer it, until the horse is
    gone, memory ran out, or the child has grown by half its allowance."""
    out_of_memory = _framed(("end", True, ("memory",)))  # made while it still can be
    try:
        start = _address_space()
        allowed = start + limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (allowed, allowed))
        buffer, retiring = b"", False
        while not retiring:
            while (message := _unframe(buffer)) is None:
                chunk = os.read(requests, 65536)
                if not chunk:
                    return  # the horse is gone
                buffer += chunk
            (request, info), buffer = message
            answer = _answer(read, request, info, answers)
            retiring = _address_space() > start + limit_mb * 1024 * 1024 // 2
            os.write(answers, _framed(("end", retiring, answer)))
    except MemoryError:
        os.write(answers, out_of_memory)
    finally:
        os._exit(0)


def _answer(read: Read, request: tuple, info: dict, fd: int) -> tuple:
    """How one request went: ("done", result, info), ("refused", kind, words)
    or ("error", words); progress is sent on ``fd`` as it goes."""
    last_sent = {"read": 0.0, "share": 0.0}
    unsent: dict = {}

    def sender(kind: str):
        def send(value) -> None:
            unsent[kind] = value
            now = time.monotonic()
            if now - last_sent[kind] >= POLL_SECONDS:
                last_sent[kind] = now
                os.write(fd, _framed((kind, unsent.pop(kind))))

        return send

    try:
        written = read(*request, info=info, on_read=sender("read"), on_share=sender("share"))
    except (UnsupportedType, ExtractionError) as exc:
        return ("refused", type(exc).__name__, str(exc))
    except MemoryError:
        raise
    except Exception as exc:  # told to the horse, which raises it
        return ("error", f"{type(exc).__name__}: {exc}")
    for kind, value in unsent.items():  # the last figures, held back by the pace
        os.write(fd, _framed((kind, value)))
    return ("done", written, info)


def _result(outcome: tuple, info: dict, limit_mb: int):
    kind, *rest = outcome
    if kind == "done":
        written, child_info = rest
        info.update(child_info)
        return written
    if kind == "memory":
        raise ExtractionError(
            f"reading it needed more than {limit_mb} MB of memory (INGEST_READ_MEMORY_MB); "
            "the file may be damaged or built to inflate, like a decompression bomb."
        )
    if kind == "refused":
        name, message = rest
        raise (UnsupportedType if name == "UnsupportedType" else ExtractionError)(message)
    raise RuntimeError(f"reading the file failed: {rest[0]}")


def _stopped(status: int, limit_mb: int) -> ExtractionError:
    how = signal.Signals(os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else "an exit"
    return ExtractionError(
        f"reading it stopped the reader ({how}): it needed more than {limit_mb} MB "
        "of memory (INGEST_READ_MEMORY_MB), or the file is damaged."
    )


def _framed(message: tuple) -> bytes:
    payload = pickle.dumps(message)
    return HEADER.pack(len(payload)) + payload


def _unframe(buffer: bytes) -> tuple[tuple, bytes] | None:
    """The first whole message in ``buffer`` and what follows it, or None."""
    if len(buffer) < HEADER.size:
        return None
    (size,) = HEADER.unpack_from(buffer)
    end = HEADER.size + size
    if len(buffer) < end:
        return None
    return pickle.loads(buffer[HEADER.size : end]), buffer[end:]


def _address_space() -> int:
    """This process's virtual memory size (VmSize), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmSize is missing from /proc/self/status")
