"""Process launcher behind ``run.py``: the whole service, or the test suite.

    python -m config.launch serve   # migrate, demo login, then the Procfile's processes
                                    # (WORKERS workers) under honcho
    python -m config.launch test    # pytest, with any extra arguments

With no ``REDIS_URL`` in the environment an embedded Redis is started first
and its address exported, so every child process (web, workers, the reaper,
the workers the tests start) shares it (``config.embedded_redis``). The tests
get a Redis and a ``var/`` of their own (``var/test/``), so that a test run
beside a running app never touches its data. Nothing here imports Django
before that, so the settings see the final environment.
"""

import contextlib
import errno
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from honcho.environ import ProcessParams, expand_processes, parse_procfile
from honcho.manager import Manager

from config import embedded_redis

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("INGEST_VAR_DIR", ROOT / "var"))
DEMO_USER, DEMO_PASSWORD = "demo", "demo"


@contextlib.contextmanager
def redis_for(command: str):
    """An embedded Redis unless REDIS_URL is set, its URL exported for every
    child process: the app's in ``var/redis/``, the tests' a temporary one of
    their own (see ``config.embedded_redis``)."""
    if os.environ.get("REDIS_URL"):
        yield
        return
    folder = None if command == "test" else VAR / "redis"
    try:
        with embedded_redis.running(folder) as url:
            os.environ["REDIS_URL"] = url
            print(f"Embedded Redis at {url}", flush=True)
            yield
    except embedded_redis.RedisInUse:
        sys.exit(
            f"The embedded Redis in {folder} is in use: is `python3 run.py` already running "
            "in this checkout? Stop it first, or give this run another folder with "
            "INGEST_VAR_DIR=/some/other/dir."
        )


def manage(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), *args]


def procfile() -> dict[str, str]:
    """The processes of the service by name, as honcho reads ``Procfile``."""
    return dict(parse_procfile((ROOT / "Procfile").read_text()).processes)


def with_this_python(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with this interpreter's directory first on PATH: "python" in
    the Procfile is then this virtual environment's."""
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def serve() -> int:
    os.environ.setdefault("HOST", "127.0.0.1")
    os.environ.setdefault("PORT", "8000")
    host, port = os.environ["HOST"], int(os.environ["PORT"])
    # Before anything starts: gunicorn alone would retry for five seconds,
    # then exit and take every other process down with it.
    if problem := port_problem(host, port):
        sys.exit(problem)
    login = prepare()
    workers = int(os.environ.get("WORKERS", "1"))
    manager = Manager()
    started = processes(workers)
    for process in started:
        manager.add_process(process.name, process.cmd, env=process.env, cwd=ROOT)
    url = f"http://{url_host(host)}:{web_port(started)}/"
    banner = (
        f"\nIngest is running at {url}  ({login})\n"
        f"API: {url}api/   API docs: {url}api/docs/\n"
        f"{workers} worker(s) and a reaper are running. Press Ctrl-C to stop.\n"
    )
    announced = threading.Event()

    def announce_when_healthy() -> None:
        if announce(f"{url}healthz", banner):
            announced.set()

    threading.Thread(target=announce_when_healthy, daemon=True).start()
    # honcho stops every process once one exits, or on Ctrl-C (SIGINT) or
    # SIGTERM: SIGTERM to each, SIGKILL to what is left after a few seconds.
    manager.loop()
    if not announced.is_set() and (problem := port_problem(host, port)):
        # Taken by someone else between the check above and gunicorn's start.
        print(problem, file=sys.stderr, flush=True)
    return manager.returncode


def port_problem(host: str, port: int) -> str:
    """What stops the web server listening on ``host:port``, in words; "" if nothing."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As gunicorn binds: a port in TIME_WAIT is free to it.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host.strip("[]"), port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return (
                f"Port {port} on {host} is already in use (another `python3 run.py`, or "
                f"another server). Choose another port: PORT={port + 1} python3 run.py"
            )
        if exc.errno == errno.EACCES:
            return (
                f"Port {port} needs administrator rights. Choose another: PORT=8000 python3 run.py"
            )
        return f"Cannot listen on {host}:{port}: {exc.strerror}. Set HOST and PORT to an address of this machine."
    return ""


def url_host(host: str) -> str:
    """Where a browser on this machine reaches a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def prepare() -> str:
    """Migrate and set the demo login up; how to log in."""
    subprocess.run(manage("migrate", "--no-input", "-v", "0"), check=True)
    # A known password is a convenience for a development run only.
    demo = os.environ.get("DEBUG", "true").strip().lower() in {"1", "true", "yes", "on"}
    # With DEBUG off, a demo login left by an earlier development run is
    # locked out (and the authentication backend refuses it regardless).
    disable = [] if demo else ["--disable"]
    subprocess.run(manage("ensure_demo", DEMO_USER, DEMO_PASSWORD, *disable), check=True)
    if demo:
        return f"log in as {DEMO_USER} / {DEMO_PASSWORD}"
    return f"DEBUG is off: the demo login ({DEMO_USER}) is disabled; use manage.py createsuperuser"


def processes(workers: int) -> list[ProcessParams]:
    """The Procfile's processes, ``workers`` of the worker, as ``honcho start
    -c worker=N`` runs them (honcho numbers them and gives each its PORT)."""
    return expand_processes(
        procfile(), concurrency={"worker": workers}, env=with_this_python(os.environ)
    )


def web_port(started: list[ProcessParams]) -> int:
    return int(next(p.env["PORT"] for p in started if p.name.startswith("web.")))


def announce(health_url: str, banner: str, timeout: float = 120, say=print) -> bool:
    """Say ``banner`` once ``health_url`` answers 200, and only then: the
    port accepts connections a few seconds before the web processes have
    loaded Django, and a user who opens the URL at once must get the page."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(health_url, timeout=2) as response:
                if response.status == 200:
                    say(banner)
                    sys.stdout.flush()
                    return True
        except (OSError, ValueError):  # refused, reset, not yet answering, or an error status
            pass
        time.sleep(0.1)
    return False


def test(args: list[str]) -> int:
    import pytest

    ensure_system_packages()
    return pytest.main(args)


def installed(package: str) -> bool:
    if shutil.which("dpkg"):
        return subprocess.run(["dpkg", "-s", package], capture_output=True).returncode == 0
    return shutil.which(package) is not None


def ensure_system_packages() -> None:
    """Install the Debian packages the tests need (chromium, for the browser
    tests), as CI does, when this machine lacks them and apt can add them."""
    lines = (ROOT / ".ci" / "apt-packages").read_text().splitlines()
    wanted = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    missing = [name for name in wanted if not installed(name)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"Missing {', '.join(missing)}: the browser tests will fail.", flush=True)
        return
    print(f"Installing {', '.join(missing)} for the browser tests (apt-get) ...", flush=True)
    quiet = {
        "stdout": subprocess.DEVNULL,
        "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    }
    subprocess.run(["apt-get", "update", "-qq"], check=True, **quiet)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, **quiet)


def main() -> None:
    command, *rest = sys.argv[1:] or ["serve"]
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    if command not in ("serve", "test"):
        sys.exit(f"unknown command {command!r}: use 'serve' or 'test'")
    if command == "test":
        # The tests' own var/ (their SQLite database, uploads, work folders),
        # beside a running app's, never in it; their Redis is their own too.
        os.environ["INGEST_VAR_DIR"] = str(VAR / "test")
    with redis_for(command):
        code = serve() if command == "serve" else test(rest)
    sys.exit(code)


if __name__ == "__main__":
    main()
