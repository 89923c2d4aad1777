"""Liveness and readiness probes: JSON, no login, 503 with the reason."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from jobs.models import JobStatus
from tests.conftest import wait_for
from tests.factories import IngestJobFactory

pytestmark = pytest.mark.django_db


def test_liveness_needs_nothing():
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_not_ready_without_a_worker_and_says_so():
    IngestJobFactory(status=JobStatus.QUEUED, created_at=timezone.now() - timedelta(seconds=90))

    response = Client().get("/readyz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"]
    assert checks["database"]["oldest_queued_job_age_seconds"] >= 90
    assert checks["workers"] == {
        "ok": False,
        "count": 0,
        "error": "no worker is listening on the ingest queue.",
    }


def test_not_ready_when_redis_is_down(dead_redis):
    response = Client().get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["error"].startswith("Redis does not answer")
    assert body["checks"]["workers"]["count"] is None
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.e2e
def test_ready_once_a_worker_listens(start_worker):
    start_worker()

    response = wait_for(
        lambda: (r := Client().get("/readyz")).status_code == 200 and r, message="readiness"
    )

    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["workers"] == {"ok": True, "count": 1}
    assert body["checks"]["database"]["oldest_queued_job_age_seconds"] is None
