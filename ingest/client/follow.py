"""Following an ingest job from a terminal: collecting local files, the live
progress, the Ctrl-C prompt, the summary and the exit status.

``manage.py ingest`` and the remote client (``python -m ingest.client``) both
use this module, so it imports nothing from Django: it works on jobs shaped
as the HTTP API shows them (dicts with ``status``, ``progress``, ``result``).
"""

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from ingest.client.present import (
    colours,
    files_text,
    progress_text,
    shorten,
    summary,
    write_lines,
)

# Exit statuses, the same for the command and the client.
COMPLETED = 0
FAILED = 1
BAD_INPUT = 2
CANCELLED = 3
INTERRUPTED = 130  # Ctrl-C before a job existed, as shells report SIGINT

EXIT_STATUS = {"completed": COMPLETED, "failed": FAILED, "cancelled": CANCELLED}
TERMINAL = frozenset(EXIT_STATUS)
PLAIN_LINE_PERIOD = 5.0  # seconds between plain progress lines when only bytes move


class BadInput(Exception):
    """Something the user gave cannot be used; the message is a sentence."""


class Refused(Exception):
    """The server refused a cancel (the job finished meanwhile); the message says why."""


# --- local files ---------------------------------------------------------------


@dataclass(frozen=True)
class LocalFile:
    path: Path
    name: str  # as the job shows it: relative to the folder given, with its name
    size: int


def collect(
    paths: Iterable[str], refuse: Callable[[LocalFile], str | None]
) -> tuple[list[LocalFile], list[str]]:
    """The files to send: files as given, folders walked recursively in name
    order (hidden entries left out). ``refuse`` returns why a file cannot go,
    or None; refused files are left out too. Returns the files and one
    "skipped" line per file left out. A path that does not exist raises BadInput.
    """
    accepted: list[LocalFile] = []
    skipped: list[str] = []
    seen: set[Path] = set()
    for candidate in _walk(paths, skipped):
        if candidate.path in seen:
            continue
        seen.add(candidate.path)
        try:
            reason = refuse(candidate)
        except OSError as exc:
            reason = f"{candidate.name} cannot be read ({exc.strerror or exc})."
        if reason:
            skipped.append(f"skipped: {reason}")
        else:
            accepted.append(candidate)
    if not accepted:
        raise BadInput("nothing to ingest: no file given is one the service accepts.")
    return accepted, skipped


def _walk(paths: Iterable[str], skipped: list[str]) -> Iterable[LocalFile]:
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            yield from _walk_folder(path.resolve(), skipped)
        elif path.is_file():
            yield LocalFile(path.resolve(), path.name, path.stat().st_size)
        elif path.exists():
            skipped.append(f"skipped: {given} is not a regular file.")
        else:
            raise BadInput(f"no such file or folder: {given}.")


def _walk_folder(root: Path, skipped: list[str]) -> Iterable[LocalFile]:
    for folder, dirs, files in os.walk(root):
        hidden = sorted(d for d in dirs if d.startswith("."))
        skipped.extend(f"skipped: {_relative(root, folder, d)}/ is hidden." for d in hidden)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith("."):
                skipped.append(f"skipped: {_relative(root, folder, name)} is hidden.")
            elif path.is_file():
                yield LocalFile(path, _relative(root, folder, name), path.stat().st_size)


def _relative(root: Path, folder: str, name: str) -> str:
    return (Path(root.name) / Path(folder).relative_to(root) / name).as_posix()


# --- following -----------------------------------------------------------------


@dataclass
class Outcome:
    job: dict  # the last state seen
    exit_status: int
    detached: bool = False


def follow(
    fetch: Callable[[], dict],
    cancel: Callable[[], dict],
    *,
    out: TextIO,
    err: TextIO,
    stdin: TextIO | None = None,
    interval: float = 0.5,
    bar: bool | None = None,
    hint: str = "",
) -> Outcome:
    """Show the job's progress until it ends, then its per-file summary.

    ``fetch`` returns the job now, ``cancel`` requests its cancel (raising
    Refused when it cannot). Progress and the prompt go to ``err`` (a bar on
    a terminal, plain lines otherwise), the summary to ``out``. Ctrl-C asks
    whether to cancel: yes keeps following until the job stops; no, an empty
    answer or a closed stdin detaches and leaves the job running (``hint``,
    if given, then tells how to look at it again).
    """
    with Interrupts() as interrupts:
        job = fetch()
        use_bar = _isatty(err) if bar is None else bar
        display = BarDisplay(job, err) if use_bar else LineDisplay(job, err)
        with display:
            job = _watch(
                job, fetch, cancel, display, interrupts, err=err, stdin=stdin, interval=interval
            )
            if job["status"] not in TERMINAL:
                display.close()
                return _detach(job, out, hint)
    write_lines(out, summary(job, colour=colours(out)))
    return Outcome(job, EXIT_STATUS[job["status"]])


def _watch(job, fetch, cancel, display, interrupts, *, err, stdin, interval) -> dict:
    """Read the job until it ends; the job as it is when the user stops watching."""
    cancel_sent = False
    while job["status"] not in TERMINAL:
        display.show(job)
        if interrupts.wait(interval):
            display.pause()
            question = f"cancel job {job['name']!r}? [y/N] "
            if cancel_sent or not interrupts.ask(question, err=err, stdin=stdin or sys.stdin):
                return job
            job = _request_cancel(cancel, job, err)
            cancel_sent = True
            display.resume()
        job = fetch()
    display.show(job)
    return job


def _request_cancel(cancel: Callable[[], dict], job: dict, err: TextIO) -> dict:
    try:
        job = cancel()
    except Refused as exc:
        write_lines(err, [str(exc)])
        return job
    note = job.get("status_note") or f"it is {job['status']}."
    write_lines(err, [f"cancelling job {job['name']!r}: {note} (Ctrl-C again to stop watching)"])
    return job


def _detach(job: dict, out: TextIO, hint: str) -> Outcome:
    lines = [f"job {job['name']!r} is still {job['status']}; it was left to finish on its own."]
    if hint:
        lines.append(hint)
    write_lines(out, lines)
    return Outcome(job, COMPLETED, detached=True)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Interrupts:
    """Ctrl-C noted as a flag instead of raised, so it never lands in the
    middle of a database query or an HTTP request; the loop looks at it
    between polls. Signals reach only the main thread: elsewhere Ctrl-C keeps
    its usual meaning."""

    def __init__(self):
        self.pending = False
        self.previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _note(self, signum, frame):
        self.pending = True

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True, at once, when Ctrl-C was pressed."""
        deadline = time.monotonic() + seconds
        while not self.pending and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
        pending, self.pending = self.pending, False
        return pending

    def ask(self, question: str, *, err: TextIO, stdin: TextIO) -> bool:
        err.write(question)
        err.flush()
        try:
            with self._raising():
                answer = stdin.readline()
        except KeyboardInterrupt:
            answer = ""  # Ctrl-C at the prompt: the safe answer
        if not answer.endswith("\n"):
            err.write("\n")
        return answer.strip().lower() in {"y", "yes"}

    @contextmanager
    def _raising(self):
        # While the prompt waits for a line, Ctrl-C must interrupt the read.
        if self.previous is None:
            yield
            return
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, self._note)


class Display:
    """Shows a job's progress; a context manager that closes it."""

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BarDisplay(Display):
    """A tqdm bar over the job's bytes (rate and ETA), with files and status beside it."""

    def __init__(self, job: dict, stream: TextIO):
        progress = job["progress"]
        self.bar = tqdm(
            total=progress["bytes_total"] or None,
            initial=progress["bytes_done"],
            desc=shorten(job["name"], 30),
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=stream,
            dynamic_ncols=True,
            smoothing=0.2,
        )

    def show(self, job: dict) -> None:
        progress = job["progress"]
        self.bar.set_postfix_str(
            f"{files_text(progress)}, {job['status']}",
            refresh=False,
        )
        step = progress["bytes_done"] - self.bar.n
        if step >= 0:
            self.bar.update(step)
        else:  # a requeued job starts its unfinished files again
            self.bar.n = progress["bytes_done"]
        self.bar.refresh()

    def pause(self) -> None:
        self.bar.clear()

    def resume(self) -> None:
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


class LineDisplay(Display):
    """Plain lines for a log or a pipe: one per change of status or of files
    done, and at most one every PLAIN_LINE_PERIOD seconds while bytes move."""

    def __init__(self, job: dict, stream: TextIO):
        self.stream = stream
        self.start = (time.monotonic(), job["progress"]["bytes_done"])
        self.last_key = None
        self.last_at = 0.0

    def show(self, job: dict) -> None:
        progress = job["progress"]
        key = (job["status"], progress["files_done"], progress["bytes_done"])
        now = time.monotonic()
        if key == self.last_key:
            return
        if (
            self.last_key
            and key[:2] == self.last_key[:2]
            and now - self.last_at < PLAIN_LINE_PERIOD
        ):
            return
        self.last_key, self.last_at = key, now
        write_lines(self.stream, [self.line(job, now)])

    def line(self, job: dict, now: float) -> str:
        text = f"job {job['name']!r} {job['status']}: {progress_text(job['progress'])}"
        started_at, started_bytes = self.start
        moved = job["progress"]["bytes_done"] - started_bytes
        if moved > 0 and now > started_at and job["status"] == "running":
            rate = moved / (now - started_at)
            left = job["progress"]["bytes_total"] - job["progress"]["bytes_done"]
            text += f", {tqdm.format_sizeof(rate, 'B/s', 1024)}"
            text += f", ETA {tqdm.format_interval(left / rate)}"
        return text
