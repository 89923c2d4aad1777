"""Browser fixtures: the site served by a real uvicorn (as ``run.py`` serves
it) on a free port against the test database and Redis, real workers from
``start_worker``, and Playwright driving Debian's chromium.

Playwright's own browser download cannot work here, so the browser is the
system's ``/usr/bin/chromium`` (``.ci/apt-packages`` installs it in CI).
"""

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.conftest import database_url
from tests.processes import ProcessGroup, WebProcess, serve

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
def shared_site(django_db_setup, django_db_blocker, tmp_path_factory):
    """One web process for a whole module, for the tests that build their
    states in the database (with ``transactional_db``, so the server sees
    them) and start no worker: starting one per test cost about 3 s each.
    Its uploads folder is ``shared_site.media_root`` (see ``site_storage``)."""
    folder = tmp_path_factory.mktemp("shared-site")
    with django_db_blocker.unblock():
        database = database_url()
        rows = database_rows()
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": django_settings.REDIS_URL,
        "INGEST_UPLOAD_DIR": str(folder / "uploads"),
        "INGEST_WORK_DIR": str(folder / "work"),
        "PYTHONUNBUFFERED": "1",
        "API_THROTTLE_ANON": "",
        "API_THROTTLE_USER": "",
        "DEBUG": "1",
        ASYNC_UNSAFE: "",
    }
    group = ProcessGroup(env, folder)
    try:
        server = serve(lambda: group.start(WebProcess))
        server.media_root = folder / "uploads"
        server.rows = rows
        yield server
    finally:
        group.stop_all()


def database_rows() -> str:
    """Every row of the test database, as it stands (the migrations' own:
    content types, permissions), to be put back before each test."""
    from django.db import connection

    return connection.creation.serialize_db_to_string()


def put_back(rows: str) -> None:
    """The test database as ``rows`` say, ids included.

    A web process caches content types by id, and the flush that ends each
    transactional test makes them anew with other ids. A web process shared
    by a module's tests sees, at the start of each, the ids it saw first.
    (Django's serialized rollback would do this, but its copy of the rows is
    kept on a connection object that Playwright's greenlets do not see.)
    """
    from django.core.management import call_command
    from django.db import connection

    call_command("flush", verbosity=0, interactive=False, inhibit_post_migrate=True)
    connection.creation.deserialize_db_from_string(rows)


@pytest.fixture
def shared(shared_site, transactional_db, settings) -> str:
    """The shared site's URL, for a test whose rows it sees (committed), with
    the rows' ids it knows, and whose stored files it reads."""
    put_back(shared_site.rows)
    settings.MEDIA_ROOT = shared_site.media_root
    return shared_site.url


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


def fresh_page(browser, width: int, height: int):
    """A fresh browser context and page; any uncaught script error fails the test."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


@pytest.fixture
def page(browser):
    yield from fresh_page(browser, 1280, 900)


# Desktop, and a phone's width (an iPhone 12 to 15 is 390 CSS pixels wide).
SCREENS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(params=list(SCREENS))
def screen(request) -> str:
    return request.param


@pytest.fixture
def sized_page(browser, screen):
    """A page at the width ``screen`` names: each test using it runs at both."""
    yield from fresh_page(browser, *SCREENS[screen])


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
