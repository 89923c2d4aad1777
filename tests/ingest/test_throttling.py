"""Rate limits: the API answers 429 with Retry-After in its error shape once a
caller passes its rate, and the login forms lock out after repeated failures."""

import contextvars
from unittest.mock import patch

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from ingest.api.throttling import UserRateThrottle, counter
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
    settings.API_THROTTLE_REDIS = {
        **settings.API_THROTTLE_REDIS,
        "URL": f"redis://127.0.0.1:{free_port()}/0",
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


def test_every_request_counts_through_one_redis_client_per_process():
    # Under ASGI each request runs in a context of its own; Django's cache
    # made a client per context, and each opened a new Redis connection.
    def client_of_a_new_request():
        return counter().registered_client

    clients = [contextvars.Context().run(client_of_a_new_request) for _ in range(3)]

    assert clients[0] is clients[1] is clients[2]


def throttle(rate: str):
    class Limited(UserRateThrottle):
        def get_rate(self):
            return rate

    return Limited()


def allowed(rate: str, user, at: float) -> tuple[bool, float | None]:
    """One request of ``user`` at ``at`` seconds: allowed, and Retry-After if not."""
    request = RequestFactory().get("/")
    request.user = user
    limiter = throttle(rate)
    with patch("ingest.api.throttling.time.time", return_value=at):
        ok = limiter.allow_request(request, view=None)
    return ok, None if ok else limiter.wait()


def test_the_window_slides_the_previous_minute_weighing_as_it_overlaps(user):
    minute = 60 * 1_000_000  # a window's start
    assert [allowed("4/minute", user, minute + 50)[0] for _ in range(3)] == [True] * 3
    # 15 s into the next window, three quarters of the previous one's 3 still
    # count (2.25): two more go through, the third would make 4.25.
    answers = [allowed("4/minute", user, minute + 75) for _ in range(3)]
    assert [ok for ok, _ in answers] == [True, True, False]
    # 3 * (1 - elapsed) + 2 falls under 4 once elapsed passes 1/3: 5 s later.
    assert answers[2][1] == pytest.approx(5)
    # The refused request was not counted: 6 s later, 3 * 0.65 + 2 = 3.95.
    assert allowed("4/minute", user, minute + 81)[0]


def test_a_caller_over_the_rate_waits_until_the_window_ends(user):
    start = 60 * 2_000_000 + 10
    assert [allowed("2/minute", user, start)[0] for _ in range(3)] == [True, True, False]
    assert allowed("2/minute", user, start)[1] == pytest.approx(50)
