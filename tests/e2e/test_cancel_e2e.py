"""Cancelling jobs that real rqworker processes are running (DESIGN.md, "States")."""

import os
import signal

import pytest
from django.db import connection, transaction
from rq.job import Job as RQJob

from ingest.models import Document, FileStatus, IngestFile
from ingest.services import job_enqueue
from jobs.models import JobStatus
from tests.conftest import client_for, is_postgres, member, postgres_only, wait_for
from tests.e2e.helpers import (
    assert_valid_chain,
    create_job,
    event_chain,
    finished,
    in_status,
    job_row,
    job_url,
    text_file,
)

pytestmark = [pytest.mark.e2e]


def assert_whole_documents(job) -> None:
    """Every document the job wrote has all its chunks, in order, covering its text."""
    for document in Document.objects.filter(job=job):
        spans = list(document.chunks.order_by("index").values_list("index", "start", "end"))
        assert [index for index, _, _ in spans] == list(range(document.chunk_count))
        assert spans[0][1] == 0
        assert spans[-1][2] == document.size


def test_cancel_queued_job_removes_it_and_a_later_worker_does_nothing(
    api, project, redis_conn, start_worker
):
    job_id = create_job(api, project, [text_file("a.txt", 1, 5_000)])
    assert RQJob.fetch(job_id, connection=redis_conn).get_status() == "queued"

    response = api.post(job_url(project, job_id, "cancel/"), {"reason": "wrong files"})

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert redis_conn.lrange("rq:queue:ingest", 0, -1) == []
    # Even a stale delivery of the task finds the job cancelled and leaves it alone.
    job_enqueue(job=job_row(job_id))
    start_worker()
    wait_for(
        lambda: RQJob.fetch(job_id, connection=redis_conn).get_status() == "finished",
        message="the redelivered task to return",
    )
    job = job_row(job_id)
    assert job.status == JobStatus.CANCELLED
    assert job.started_at is None
    assert IngestFile.objects.get(job=job).status == FileStatus.PENDING
    assert not Document.objects.filter(project=project).exists()
    assert event_chain(job) == [("create", "", "queued"), ("cancel", "queued", "cancelled")]


@pytest.mark.parametrize("upload_storage", ["local", "s3"], indirect=True)
def test_cancel_mid_way_keeps_finished_files_and_reports_the_rest(
    api, project, upload_storage, start_worker, settings
):
    files = [text_file(f"part{n:02d}.txt", n, 400_000) for n in range(12)]
    job_id = create_job(api, project, files)
    worker = start_worker()
    wait_for(lambda: job_row(job_id).items_done >= 2, message="two files done")

    # Paused, the work horse cannot race the cancel to the last file (on
    # SQLite it is paused outside its write transaction: see freeze_horse).
    # Sent while it ran, SQLite's cancel could wait out every file's write
    # and find the job completed (409).
    horse = worker.freeze_horse()
    try:
        response = api.post(job_url(project, job_id, "cancel/"), {"reason": "enough"})
    finally:
        os.kill(horse, signal.SIGCONT)

    assert response.status_code == 202
    assert response.json()["status"] in ("cancelling", "cancelled")
    assert response.json()["cancel_requested_at"]
    job = wait_for(lambda: finished(job_id), message="the job to stop")
    assert job.status == JobStatus.CANCELLED
    body = api.get(job_url(project, job_id)).json()
    assert body["status"] == "cancelled"
    assert body["result"]["partial"] is True
    statuses = [f["status"] for f in body["result"]["files"]]
    done = statuses.count("done")
    # On SQLite freeze_horse waits for a gap between the horse's write
    # transactions (one writer, README), which may come only at the last
    # file: then every file is done, and the cancel still wins.
    assert 2 <= done < 12 or (not is_postgres() and done == 12)
    assert statuses == ["done"] * done + ["not_reached"] * (12 - done)
    assert all(f["document"] is None for f in body["result"]["files"][done:])
    assert body["result"]["documents_created"] == done == Document.objects.filter(job=job).count()
    assert_whole_documents(job)
    assert not (settings.INGEST_WORK_DIR / job_id).exists()
    assert event_chain(job)[-2:] == [
        ("cancel", "running", "cancelling"),
        ("cancelled", "cancelling", "cancelled"),
    ]
    assert job.events.get(action="cancel").reason == "enough"


@pytest.mark.parametrize("upload_storage", ["local", "s3"], indirect=True)
@pytest.mark.parametrize("phase", ["reading", "writing"])
def test_cancel_inside_a_large_file_stops_before_it_finishes(
    api, project, upload_storage, start_worker, settings, phase
):
    job_id = create_job(api, project, [text_file("big.txt", 7, 6_000_000)])
    start_worker()
    if phase == "reading":
        wait_for(lambda: job_row(job_id).bytes_done > 0, message="reading to start")
    else:
        # All bytes read, no file done: the file's write transaction is under way.
        wait_for(
            lambda: (job := job_row(job_id)).bytes_done == job.bytes_total,
            message="the write phase",
        )

    response = api.post(job_url(project, job_id, "cancel/"))

    job = wait_for(lambda: finished(job_id), message="the job to stop")
    assert not (settings.INGEST_WORK_DIR / job_id).exists()
    if not is_postgres():
        # SQLite has one writer: the cancel waits for the file's write
        # transaction (README), and may then find the job completed. The
        # answer and the ending agree, and the file is whole either way.
        expected = {202: JobStatus.CANCELLED, 409: JobStatus.COMPLETED}
        assert job.status == expected[response.status_code]
        assert_whole_documents(job)
        return
    assert response.status_code == 202
    assert job.status == JobStatus.CANCELLED
    assert IngestFile.objects.get(job=job).status == FileStatus.PENDING
    assert not Document.objects.filter(project=project).exists()


@postgres_only
def test_cancel_never_waits_for_the_worker_holding_a_file_transaction(api, project, start_worker):
    job_id = create_job(api, project, [text_file("big.txt", 8, 6_000_000)])
    start_worker()
    wait_for(lambda: (job := job_row(job_id)).bytes_done == job.bytes_total, message="writing")

    # Were the job row locked by the worker's write transaction, the cancel's
    # UPDATE would fail on this lock timeout instead of waiting for the file.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '100ms'")
        response = api.post(job_url(project, job_id, "cancel/"))
        detail = api.get(job_url(project, job_id))

    assert response.status_code == 202
    assert detail.status_code == 200
    assert wait_for(lambda: finished(job_id)).status == JobStatus.CANCELLED


def test_cancel_refusals_on_a_running_job(api, project, start_worker):
    job_id = create_job(api, project, [text_file("big.txt", 9, 3_000_000)])
    worker = start_worker()
    wait_for(lambda: in_status(job_id, JobStatus.RUNNING), message="the job to run")
    # Paused, the work horse cannot finish the cancel between the two requests.
    horse = worker.freeze_horse()
    viewer = member(project, "viewer")
    other = type(project).objects.create(name="other", created_by=project.created_by)

    assert client_for(viewer).post(job_url(project, job_id, "cancel/")).status_code == 403
    assert api.post(job_url(other, job_id, "cancel/")).status_code == 404
    stale = api.post(job_url(project, job_id, "cancel/"), HTTP_IF_MATCH='W/"1"')
    assert stale.status_code == 412
    first = api.post(job_url(project, job_id, "cancel/"))
    second = api.post(job_url(project, job_id, "cancel/"))

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["status"] == "cancelling"
    os.kill(horse, signal.SIGCONT)
    job = wait_for(lambda: finished(job_id), message="the job to stop")
    assert [a for a, _, _ in event_chain(job)].count("cancel") == 1
    again = api.post(job_url(project, job_id, "cancel/"))
    assert again.status_code == 409
    assert again.json() == {
        "detail": "job already cancelled; nothing to cancel.",
        "code": "invalid_state",
    }


def test_cancel_racing_completion_never_ends_completed_after_202(api, project, start_worker):
    """Small jobs cancelled the moment they start: some cancels land while the
    worker is finishing. Each job ends in exactly one terminal state that
    agrees with the answer its cancel got."""
    start_worker()
    answers = []
    for n in range(15):
        job_id = create_job(api, project, [text_file(f"r{n}.txt", 100 + n, 20_000)])
        wait_for(
            lambda job_id=job_id: job_row(job_id).status != JobStatus.QUEUED,
            interval=0.002,
            message="the job to start",
        )
        answers.append((job_id, api.post(job_url(project, job_id, "cancel/")).status_code))

    for job_id, code in answers:
        job = wait_for(lambda job_id=job_id: finished(job_id), message="the job to end")
        assert code in (202, 409)
        expected = JobStatus.CANCELLED if code == 202 else JobStatus.COMPLETED
        assert job.status == expected, (code, event_chain(job))
        assert_valid_chain(job)
        assert_whole_documents(job)
