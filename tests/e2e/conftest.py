"""Browser fixtures: the site served by a real uvicorn (as ``run.py`` serves
it) on a free port against the test database and Redis, real workers from
``start_worker``, and Playwright driving Debian's chromium.

Playwright's own browser download cannot work here, so the browser is the
system's ``/usr/bin/chromium`` (``.ci/apt-packages`` installs it in CI).
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebServer:
    """``uvicorn config.asgi:application``, the run command's web process."""

    def __init__(self, env: dict, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = log_path.open("ab")
        command = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
        options = ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        # Open event streams would otherwise hold a graceful shutdown forever.
        options += ["--timeout-graceful-shutdown", "2"]
        self.proc = subprocess.Popen(
            [*command, *options], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"uvicorn exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/login/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise AssertionError(f"uvicorn did not answer within {timeout}s:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def site(worker_env, tmp_path):
    """The dashboard's base URL, served by uvicorn against the test database."""
    env = {key: value for key, value in worker_env.items() if key != ASYNC_UNSAFE}
    # DEBUG serves the static files from the ASGI app, as in development.
    env["DEBUG"] = "1"
    for attempt in range(3):
        server = WebServer(env, tmp_path / f"uvicorn-{attempt}.log")
        try:
            server.wait_until_up()
            break
        except AssertionError:
            output = server.output()
            server.stop()
            # Another process may have taken the free port meanwhile.
            if attempt == 2 or "address already in use" not in output:
                raise
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    """One chromium per test module.

    Playwright's sync API keeps an event loop running in this thread, and
    Django refuses database access from a thread with a running loop; the
    tests' own queries are plain synchronous ones, so the guard is lifted
    for the module and put back afterwards.
    """
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("playwright is missing: pip install -r requirements.txt")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/apt-packages)")
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture
def page(browser):
    """A fresh browser context and page; any uncaught script error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
