"""Liveness and readiness probes: JSON, no login, 503 with the reason."""

import time
from datetime import timedelta

import django_rq
import pytest
from django.test import Client
from django.utils import timezone
from rq.utils import utcformat

from jobs.models import JobStatus
from jobs.worker import WORKER_TTL, Worker
from tests.conftest import wait_for
from tests.factories import IngestJobFactory, UserFactory

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


def test_only_staff_read_why_a_dependency_fails(dead_redis, settings):
    port = settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0]
    staff = Client()
    staff.force_login(UserFactory(is_staff=True))
    member = Client()
    member.force_login(UserFactory())

    for client in (Client(), member):
        error = client.get("/readyz").json()["checks"]["redis"]["error"]
        assert error == "Redis does not answer."  # no address, no error text
    detailed = staff.get("/readyz").json()["checks"]["redis"]["error"]
    assert detailed.startswith("Redis does not answer (") and port in detailed


@pytest.fixture
def registered_worker(redis_conn):
    """A worker registered on the ingest queue as rqworker registers one."""
    worker = Worker(["ingest"], connection=django_rq.get_connection("ingest"), worker_ttl=420)
    worker.register_birth()
    yield worker
    worker.register_death()


def beat_at(worker, seconds_ago: float) -> None:
    at = timezone.now() - timedelta(seconds=seconds_ago)
    worker.connection.hset(worker.key, "last_heartbeat", utcformat(at))


def test_a_worker_counts_only_while_its_heartbeat_is_fresh(registered_worker):
    beat_at(registered_worker, 1)
    fresh = Client().get("/readyz")
    # Killed without a goodbye: its key outlives its last heartbeat by a minute.
    beat_at(registered_worker, WORKER_TTL + 5)
    stale = Client().get("/readyz")

    assert (fresh.status_code, fresh.json()["checks"]["workers"]) == (200, {"ok": True, "count": 1})
    assert stale.status_code == 503
    assert stale.json()["checks"]["workers"]["count"] == 0
    assert registered_worker.connection.ttl(registered_worker.key) > 60
    metrics = Client().get("/metrics").content.decode()
    assert "\ningest_workers 0.0\n" in metrics


def test_an_idle_worker_beats_well_within_the_time_it_is_counted_for(registered_worker):
    # rqworker passes RQ's default TTL (420 s) when given no --worker-ttl.
    assert registered_worker.worker_ttl == WORKER_TTL
    assert registered_worker.dequeue_timeout <= WORKER_TTL / 2
    assert registered_worker.job_monitoring_interval < WORKER_TTL / 2


@pytest.mark.e2e
def test_a_killed_worker_stops_counting_within_the_workers_ttl(start_worker):
    worker = start_worker()
    wait_for(lambda: Client().get("/readyz").status_code == 200, message="a worker")

    worker.kill()  # SIGKILL: no goodbye, its key stays in Redis
    killed_at = time.monotonic()
    wait_for(
        lambda: Client().get("/readyz").status_code == 503,
        timeout=WORKER_TTL + 10,
        interval=0.5,
        message="the killed worker to stop counting",
    )

    assert time.monotonic() - killed_at <= WORKER_TTL + 2
    assert Client().get("/readyz").json()["checks"]["workers"]["count"] == 0


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
