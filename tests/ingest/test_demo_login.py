"""The demo login (demo / demo) is a development convenience: with DEBUG off
it cannot log in, whether or not the start disabled it."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

pytestmark = pytest.mark.django_db

FORMS = ["/login/", "/admin/login/"]


def ensure_demo(*args) -> str:
    out = StringIO()
    call_command("ensure_demo", "demo", "demo", *args, stdout=out)
    return out.getvalue()


def logs_in(url: str, password: str = "demo") -> bool:
    client = Client()
    client.post(url, {"username": "demo", "password": password})
    return "_auth_user_id" in client.session


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    ensure_demo()
    return get_user_model().objects.get(username="demo")


@pytest.mark.parametrize("url", FORMS)
def test_demo_logs_in_while_debug_is_on(demo, settings, url):
    settings.DEBUG = True
    assert logs_in(url)


@pytest.mark.parametrize("url", FORMS)
def test_demo_cannot_log_in_once_debug_is_off_even_if_not_disabled(demo, settings, url):
    settings.DEBUG = False
    assert not logs_in(url)


def test_the_start_disables_the_demo_login_when_debug_is_off(demo, settings):
    settings.DEBUG = False
    output = ensure_demo("--disable")
    assert "demo login demo disabled" in output
    demo.refresh_from_db()
    assert not demo.is_active and not demo.has_usable_password()
    # Its password, too, no longer opens anything, even with DEBUG back on.
    settings.DEBUG = True
    assert not any(logs_in(url) for url in FORMS)
    # A development start (DEBUG on) gives the login back.
    assert "demo login demo enabled again" in ensure_demo()
    assert logs_in("/login/")


def test_disabling_twice_or_without_a_demo_account_is_quiet(settings):
    settings.DEBUG = False
    assert ensure_demo("--disable") == ""
    assert not get_user_model().objects.filter(username="demo").exists()


def test_the_demo_login_is_not_created_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        ensure_demo()
    assert not get_user_model().objects.filter(username="demo").exists()


def test_a_token_made_in_development_opens_nothing_once_debug_is_off(demo, settings, project):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tests.factories import MembershipFactory

    MembershipFactory(project=project, user=demo)
    key = Token.objects.create(user=demo).key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    for url in ("/api/projects/", f"/api/projects/{project.pk}/ingest/jobs/"):
        assert api.get(url).status_code == 200, url  # DEBUG on: development as usual

    settings.DEBUG = False
    for url in ("/api/projects/", f"/api/projects/{project.pk}/ingest/jobs/"):
        refused = api.get(url)
        assert refused.status_code == 403, url
        assert (
            refused.json()["detail"] == "the demo login is for development only, and DEBUG is off."
        )
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("mcp", "--user", "demo")


@pytest.mark.django_db(transaction=True)
def test_mcp_over_http_acts_for_no_demo_token_once_debug_is_off(settings):
    from concurrent.futures import ThreadPoolExecutor

    from rest_framework.authtoken.models import Token

    from ingest.agents.http import token_user

    settings.DEBUG = True
    ensure_demo()
    key = Token.objects.create(user=get_user_model().objects.get(username="demo")).key

    def as_mcp_reads_it():  # on a thread of its own, as /mcp/ reads the token
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(token_user, key).result()

    assert as_mcp_reads_it().username == "demo"
    settings.DEBUG = False
    assert as_mcp_reads_it() is None
