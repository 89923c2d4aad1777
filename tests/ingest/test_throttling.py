"""Rate limits: the API answers 429 with Retry-After in its error shape once a
caller passes its rate, and the login forms lock out after repeated failures."""

import contextvars

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from ingest.api.throttling import ProcessConnectionPool
from tests.conftest import client_for, free_port
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FORMS = ["/login/", "/admin/login/"]


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, **rates},
        }

    return set_rates


def test_a_user_past_the_rate_gets_429_with_retry_after(rates, user, project):
    rates(user="3/minute")
    api = client_for(user)
    answers = [api.get("/api/projects/").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    response = api.get(f"/api/projects/{project.pk}/ingest/jobs/")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["code"] == "throttled"
    assert set(response.json()) == {"detail", "code"}
    # Another user has a budget of its own.
    assert client_for(UserFactory()).get("/api/projects/").status_code == 200


def test_anonymous_callers_are_limited_per_address(rates):
    rates(anon="1/minute")
    assert APIClient().get("/api/schema/").status_code == 200
    response = APIClient().get("/api/schema/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_the_default_rates_come_from_the_settings(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert set(rates) == {"anon", "user"}


def test_a_lost_redis_lets_requests_through(rates, settings, user):
    # The limit is counted in Redis; an outage must not take the API down with it.
    rates(user="1/minute")
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            **settings.CACHES["throttle"],
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        },
    }
    api = client_for(user)
    assert [api.get("/api/projects/").status_code for _ in range(3)] == [200, 200, 200]


def fail_login(client: Client, url: str, username: str) -> int:
    return client.post(url, {"username": username, "password": "wrong"}).status_code


@pytest.mark.parametrize("url", FORMS)
def test_repeated_failed_logins_lock_the_form_out(settings, url):
    settings.AXES_FAILURE_LIMIT = 3
    user = UserFactory(is_staff=True)
    client = Client()
    assert [fail_login(client, url, user.username) for _ in range(2)] == [200, 200]
    assert fail_login(client, url, user.username) == 429
    # Locked out: even the right password is refused now.
    response = client.post(url, {"username": user.username, "password": "password"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert "Too many failed logins" in response.content.decode()
    assert "Try again in 15 minutes" in response.content.decode()
    # Another account from the same address is not locked.
    other = UserFactory(is_staff=True)
    response = Client().post(url, {"username": other.username, "password": "password"})
    assert response.status_code == 302


def test_a_successful_login_resets_the_failure_count(settings):
    settings.AXES_FAILURE_LIMIT = 3
    user = UserFactory()
    client = Client()
    for _ in range(2):
        fail_login(client, reverse("ingest:login"), user.username)
    assert (
        client.post("/login/", {"username": user.username, "password": "password"}).status_code
        == 302
    )
    for _ in range(2):
        assert fail_login(Client(), "/login/", user.username) == 200


def test_every_request_counts_through_one_redis_pool_per_process():
    # Under ASGI each request runs in a context of its own, and Django makes
    # a cache object per context: each used to open a new Redis connection.
    def pool_of_a_new_request():
        cache = caches["throttle"]
        cache.set("probe", 1)
        return cache._cache._get_connection_pool(write=True)

    pools = [contextvars.Context().run(pool_of_a_new_request) for _ in range(3)]

    assert pools[0] is pools[1] is pools[2]
    assert isinstance(pools[0], ProcessConnectionPool)
    assert len(pools[0]._available_connections) == 1  # one connection, used in turn
