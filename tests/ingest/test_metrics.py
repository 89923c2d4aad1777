"""/metrics in-process: the histograms' buckets from known rows, the token,
and what a scrape says when Redis is down."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from jobs.models import JobStatus
from tests.conftest import free_port
from tests.factories import IngestJobFactory

pytestmark = pytest.mark.django_db


def figures(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def cancelled_after(seconds: float, **fields):
    finished = timezone.now()
    return IngestJobFactory(
        status=JobStatus.CANCELLED,
        cancel_requested_at=finished - timedelta(seconds=seconds),
        started_at=finished - timedelta(seconds=seconds + 1),
        finished_at=finished,
        **fields,
    )


def test_cancel_latency_buckets_count_each_job_once_in_its_bucket_and_above(client):
    for seconds in (0.2, 3, 100):
        cancelled_after(seconds)
    cancelled_after(7, deleted_at=timezone.now())  # deleted jobs were observed too
    IngestJobFactory(status=JobStatus.CANCELLED, finished_at=timezone.now())  # cancelled queued

    got = figures(client)

    def bucket(le):
        return got[("ingest_cancel_latency_seconds_bucket", frozenset({("le", le)}))]

    assert [
        bucket(le) for le in ("0.1", "0.25", "2.5", "5.0", "10.0", "60.0", "300.0", "+Inf")
    ] == [
        0,
        1,
        1,
        2,
        3,
        3,
        4,
        4,
    ]
    assert got[("ingest_cancel_latency_seconds_count", frozenset())] == 4
    assert got[("ingest_cancel_latency_seconds_sum", frozenset())] == pytest.approx(110.2)
    duration = ("ingest_job_duration_seconds_count", frozenset({("status", "cancelled")}))
    assert got[duration] == 4  # the cancelled queued job never started
    assert got[("ingest_jobs", frozenset({("status", "cancelled")}))] == 4  # the deleted one not


def test_metrics_token_is_required_once_set(client, settings):
    settings.INGEST_METRICS_TOKEN = "t0ken"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["code"] == "not_authenticated"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer \xe9\xe9").status_code == 401
    assert figures(client, HTTP_AUTHORIZATION="Bearer t0ken")


def test_without_redis_the_scrape_says_so_and_keeps_the_database_figures(client, settings):
    IngestJobFactory(status=JobStatus.QUEUED, created_at=timezone.now() - timedelta(seconds=30))
    settings.RQ_QUEUES = {"ingest": {"URL": f"redis://127.0.0.1:{free_port()}/0"}}
    got = figures(client)
    assert got[("ingest_redis_up", frozenset())] == 0
    assert ("ingest_queue_depth", frozenset()) not in got
    assert got[("ingest_jobs", frozenset({("status", "queued")}))] == 1
    assert got[("ingest_oldest_queued_seconds", frozenset())] >= 30
