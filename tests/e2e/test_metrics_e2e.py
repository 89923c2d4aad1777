"""GET /metrics scraped from a live server after real jobs on two real workers:
every figure checked against the rows and the queue it claims to count."""

import os
import signal
import urllib.error
import urllib.request

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum
from prometheus_client.parser import text_string_to_metric_families

from ingest.models import IngestFile, IngestJob
from jobs.models import JobStatus
from tests.conftest import wait_for
from tests.e2e.helpers import create_job, finished, job_row, job_url, text_file

pytestmark = [pytest.mark.e2e]
TOKEN = "scrape-me"


def scrape(server, token: str | None = TOKEN) -> dict:
    """{(sample name, frozenset of labels): value}."""
    request = urllib.request.Request(f"{server.url}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(figures: dict, name: str, **labels) -> float:
    return figures[(name, frozenset(labels.items()))]


def refused(server, header: str | None) -> int:
    request = urllib.request.Request(f"{server.url}/metrics")
    if header:
        request.add_header("Authorization", header)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    return caught.value.code


def test_metrics_after_real_jobs_on_two_workers(api, project, start_web, start_worker):
    server = start_web(INGEST_METRICS_TOKEN=TOKEN)
    workers = [start_worker(), start_worker()]
    first = create_job(api, project, [text_file(f"a{n}.txt", n, 30_000) for n in range(3)])
    second = create_job(
        api,
        project,
        [
            text_file("again.txt", 0, 30_000),  # the same text as a0.txt: a duplicate
            text_file("b.txt", 10, 30_000),
            SimpleUploadedFile("broken.pdf", b"%PDF-1.4 not really a pdf"),
        ],
    )
    for job_id in (first, second):
        assert wait_for(lambda j=job_id: finished(j), timeout=90).status == JobStatus.COMPLETED
    big = create_job(api, project, [text_file(f"p{n}.txt", 20 + n, 1_000_000) for n in range(12)])
    wait_for(lambda: job_row(big).items_done >= 1, timeout=60, message="a file done")
    # Held still, the job cannot end before the cancel (on SQLite, with no
    # search index to build, the rest of it takes well under a second).
    busy = wait_for(lambda: next((w for w in workers if w.children()), None), message="a horse")
    horse = busy.freeze_horse()
    try:
        assert api.post(job_url(project, big, "cancel/")).status_code == 202
    finally:
        os.kill(horse, signal.SIGCONT)
    cancelled = wait_for(lambda: finished(big), timeout=60, message="the cancel")
    wait_for(lambda: value(scrape(server), "ingest_workers") == 2, message="both workers seen")

    figures = scrape(server)

    assert value(figures, "ingest_workers") == 2
    assert value(figures, "ingest_redis_up") == 1
    assert value(figures, "ingest_queue_depth") == 0
    assert value(figures, "ingest_oldest_queued_seconds") == 0
    for status in JobStatus.values:
        expected = IngestJob.objects.filter(status=status).count()
        assert value(figures, "ingest_jobs", status=status) == expected, status
    assert value(figures, "ingest_jobs", status=cancelled.status) >= 1
    files = IngestFile.objects.exclude(status="pending")
    for status in ("done", "duplicate", "failed"):
        expected = files.filter(status=status).count()
        assert value(figures, "ingest_files_processed_total", status=status) == expected, status
    assert value(figures, "ingest_files_processed_total", status="duplicate") == 1
    assert value(figures, "ingest_files_processed_total", status="failed") == 1
    assert value(figures, "ingest_bytes_processed_total") == files.aggregate(s=Sum("size"))["s"]
    completed = IngestJob.objects.filter(status="completed")
    count = completed.count()
    assert count >= 2
    assert value(figures, "ingest_job_duration_seconds_count", status="completed") == count
    assert value(figures, "ingest_job_duration_seconds_sum", status="completed") == pytest.approx(
        sum((j.finished_at - j.started_at).total_seconds() for j in completed)
    )
    slowest = max((j.finished_at - j.started_at).total_seconds() for j in completed)
    assert (
        value(figures, "ingest_job_duration_seconds_bucket", status="completed", le="+Inf") == count
    )
    bound = min(b for b in (1, 5, 15, 30, 60, 300) if b >= slowest)
    assert (
        value(
            figures, "ingest_job_duration_seconds_bucket", status="completed", le=f"{float(bound)}"
        )
        == count
    )
    assert cancelled.status == JobStatus.CANCELLED
    latency = (cancelled.finished_at - cancelled.cancel_requested_at).total_seconds()
    assert value(figures, "ingest_cancel_latency_seconds_count") == 1
    assert value(figures, "ingest_cancel_latency_seconds_sum") == pytest.approx(latency)
    assert value(figures, "ingest_cancel_latency_seconds_bucket", le="300.0") == 1

    for worker in workers:
        worker.stop()
    waiting = create_job(api, project, [text_file("later.txt", 40, 5_000)])
    after = wait_for(
        lambda: (f := scrape(server)) and value(f, "ingest_workers") == 0 and f,
        message="the stopped workers to leave the registry",
    )

    assert value(after, "ingest_queue_depth") == 1
    assert value(after, "ingest_jobs", status="queued") == 1
    age = value(after, "ingest_oldest_queued_seconds")
    assert 0 < age < 60
    assert job_row(waiting).status == JobStatus.QUEUED
    assert refused(server, None) == 401
    assert refused(server, "Bearer wrong") == 401
    assert refused(server, f"Token {TOKEN}") == 401
