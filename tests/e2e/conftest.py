"""Browser fixtures: the site served by a real uvicorn (as ``run.py`` serves
it) on a free port against the test database and Redis, real workers from
``start_worker``, and Playwright driving Debian's chromium.

Playwright's own browser download cannot work here, so the browser is the
system's ``/usr/bin/chromium`` (``.ci/apt-packages`` installs it in CI).
"""

import os
from pathlib import Path

import pytest

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


@pytest.fixture
def site(start_web):
    """The dashboard's base URL, served by uvicorn against the test database."""
    # DEBUG serves the static files from the ASGI app, as in development; the
    # browser tests' own async-unsafe allowance is not the server's.
    return start_web(DEBUG="1", **{ASYNC_UNSAFE: ""}).url


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
