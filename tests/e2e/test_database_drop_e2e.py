"""PostgreSQL dropping a worker's connections mid-job (a failover, a restart,
an administrator's ``pg_terminate_backend``) neither hangs the job nor kills
the worker: the job resumes with its finished files kept, and the worker goes
on to the next job."""

import pytest
from django.db import connection

from ingest.models import FileStatus, IngestFile
from jobs.models import JobStatus
from tests.conftest import postgres_only, wait_for
from tests.e2e.helpers import assert_valid_chain, create_job, finished, job_row, text_file

pytestmark = [pytest.mark.e2e, postgres_only]
# Well past the test's own waits: the job must not be rescued by the reaper's
# stale-heartbeat path, but carry on by itself.
HEARTBEAT_TIMEOUT = 120


def terminate_other_backends() -> int:
    """``pg_terminate_backend`` on every connection to the test database but
    this test's own: the worker's and its work horse's."""
    with connection.cursor() as cursor:  # in tests, "jobstate" mirrors this one
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_worker_outlives_postgres_dropping_its_connections_mid_job(
    api, project, start_worker, start_reaper, artifacts
):
    count = 8
    files = [text_file(f"part{n}.txt", 70 + n, 1_000_000) for n in range(count)]
    job_id = create_job(api, project, files)
    next_id = create_job(api, project, [text_file("next.txt", 99, 20_000)])
    worker = start_worker()
    reaper = start_reaper(INGEST_HEARTBEAT_TIMEOUT_SECONDS=str(HEARTBEAT_TIMEOUT))
    wait_for(lambda: job_row(job_id).items_done >= 1, timeout=60, message="a file done")

    assert terminate_other_backends() >= 1

    try:
        job = wait_for(lambda: finished(job_id), timeout=60, message="the job to end or resume")
    except AssertionError as exc:
        job = job_row(job_id)
        chain = list(job.events.order_by("pk").values_list("action", "to_status", "reason"))
        report = (
            f"{exc}: {job.status}, {job.items_done}/{job.items_total} files, events {chain}\n"
            f"worker:\n{worker.output()[-8000:]}\nreaper:\n{reaper.output()[-4000:]}"
        )
        # Kept as an artifact: an expected failure's message is not printed.
        (artifacts / "database-drop-failure.txt").write_text(report)
        raise AssertionError(report) from None
    assert job.status == JobStatus.COMPLETED, (job.status, job.error, worker.output()[-3000:])
    assert_valid_chain(job)
    requeued = job.events.filter(action="requeue").values_list("reason", flat=True)
    assert list(requeued) == ["database connection lost; finished files kept"]
    assert IngestFile.objects.filter(job=job, status=FileStatus.DONE).count() == count
    for ingest_file in IngestFile.objects.filter(job=job):
        assert ingest_file.documents.count() <= 1  # no file written twice
    following = wait_for(lambda: finished(next_id), timeout=60, message="the next job")
    assert following.status == JobStatus.COMPLETED
    assert worker.proc.poll() is None, worker.output()[-3000:]
