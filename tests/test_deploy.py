"""Production settings: with DEBUG off the defaults are HTTPS-only, and
``check --deploy`` finds nothing to warn about in a production-like environment."""

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "ingest.example.org",
}
SETTINGS = [
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
    "CSRF_TRUSTED_ORIGINS",
]


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    names = [*PRODUCTION, *SETTINGS]
    base = {k: v for k, v in os.environ.items() if k not in names}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_under(**env: str) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n) for n in {SETTINGS!r}}}))"
    )
    done = run(["-c", code], DJANGO_SETTINGS_MODULE="config.settings", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_deploy_reports_nothing_in_a_production_like_environment():
    done = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    assert "W0" not in done.stdout + done.stderr


def test_defaults_with_debug_off_are_https_only():
    values = settings_under(**PRODUCTION)
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    # Trusting a forwarded header is only safe behind a proxy that sets it.
    assert values["SECURE_PROXY_SSL_HEADER"] is None


def test_defaults_with_debug_on_serve_plain_http():
    values = settings_under(DEBUG="true")
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SESSION_COOKIE_SECURE"] is False


def test_a_tls_terminating_proxy_is_configured_from_the_environment():
    values = settings_under(
        **PRODUCTION,
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https",
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="600",
        CSRF_TRUSTED_ORIGINS="https://ingest.example.org",
    )
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://ingest.example.org"]


@pytest.mark.parametrize("header", ["X-Forwarded-Proto", "X-Forwarded-Proto: ", ": https"])
def test_an_unreadable_proxy_header_is_refused_at_start(header):
    done = run(["manage.py", "check"], **PRODUCTION, SECURE_PROXY_SSL_HEADER=header)
    assert done.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER" in done.stderr


def test_the_procfiles_web_workers_parse_http_and_loop_in_c():
    """uvicorn takes httptools and uvloop when they are installed (a fifth less
    time for /healthz, a third more of them a second: requirements.txt); a
    requirements change that drops them falls back to pure Python silently."""
    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn_worker import UvicornWorker

    chosen = {key: UvicornWorker.CONFIG_KWARGS[key] for key in ("loop", "http")}
    config = Config(app=lambda scope, receive, send: None, **chosen)
    config.load()

    assert config.http_protocol_class is HttpToolsProtocol
    assert config.get_loop_factory().__module__.startswith("uvloop")
