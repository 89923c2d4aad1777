"""Who the caller is, as the web process started by the Procfile decides it:
X-Forwarded-For counts only from a proxy named in FORWARDED_ALLOW_IPS, for
the login lockout and the anonymous rate limit alike."""

import httpx2
import pytest

from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e]


def login(server, username: str, password: str, forwarded_for: str) -> int:
    """A login through the form, as a browser sends it; its final status."""
    with httpx2.Client(base_url=server.url, timeout=30) as browser:
        browser.get("/login/")
        token = browser.cookies["csrftoken"]
        headers = {"X-Forwarded-For": forwarded_for, "Referer": f"{server.url}/login/"}
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        return browser.post("/login/", data=form, headers=headers).status_code


def lock_out(server, username: str, addresses: list[str]) -> None:
    statuses = [login(server, username, "wrong", address) for address in addresses]
    assert statuses[-1] == 429, statuses


@pytest.fixture
def locked(db):
    return UserFactory()


def test_a_forged_forwarded_for_neither_escapes_a_lockout_nor_a_rate(start_web, locked):
    server = start_web(LOGIN_FAILURE_LIMIT="3", API_THROTTLE_ANON="3/minute")

    # Three addresses of the client's choosing: all one caller, locked out.
    lock_out(server, locked.username, ["10.1.1.1", "10.1.1.2", "10.1.1.3"])

    assert login(server, locked.username, "password", "9.9.9.9") == 429
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        statuses = [
            client.get("/api/schema/", headers={"X-Forwarded-For": f"10.2.2.{n}"}).status_code
            for n in range(5)
        ]
    assert statuses.count(429) >= 1, statuses


def test_a_trusted_proxy_says_who_the_caller_is(start_web, locked):
    server = start_web(LOGIN_FAILURE_LIMIT="3", FORWARDED_ALLOW_IPS="127.0.0.1")

    lock_out(server, locked.username, ["10.1.1.1"] * 3)  # the proxy vouches for the address

    # Another caller behind the same proxy is not locked out.
    assert login(server, locked.username, "password", "9.9.9.9") == 302
