"""The worker side of a job, run in-process: checkpoints, progress, heartbeat,
the final transition and the work directory."""

import re
import threading
import time

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from ingest.models import Document, IngestJob
from jobs import lifecycle, runner
from jobs.models import JobStatus
from jobs.runner import JobCancelled, JobContext, run_job
from tests.conftest import BOTH_DATABASES, postgres_only
from tests.factories import IngestJobFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES)
STATE_DB = "jobstate"


def context_for(job, tmp_path) -> JobContext:
    return JobContext(job, work_dir=tmp_path, using=STATE_DB)


def run(job, work) -> str:
    """Run ``work`` for ``job`` as the RQ task does, in the test's work root."""
    return run_job(IngestJob, job.pk, work, work_root=settings.INGEST_WORK_DIR)


def in_thread(function, *args, **kwargs):
    """Run on a thread of its own, hence on database connections of its own."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function(*args, **kwargs)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(10)
    return outcome.get("value")


@postgres_only
def test_checkpoint_sees_a_cancel_committed_while_the_file_transaction_is_open(tmp_path):
    job = IngestJobFactory(status=JobStatus.RUNNING)
    ctx = context_for(job, tmp_path)

    with transaction.atomic():  # the file's write transaction, on "default"
        Document.objects.create(project=job.project, title="half", sha256="a" * 64, size=1, job=job)
        outcome = in_thread(lifecycle.request_cancel, IngestJob.objects.get(pk=job.pk))
        assert outcome.to_status == JobStatus.CANCELLING
        with pytest.raises(JobCancelled):
            ctx.checkpoint(force=True)


def test_progress_writes_never_overwrite_a_cancel(tmp_path):
    job = IngestJobFactory(status=JobStatus.RUNNING)
    ctx = context_for(job, tmp_path)
    lifecycle.request_cancel(IngestJob.objects.get(pk=job.pk))

    ctx.progress(force=True, items_done=3, bytes_done=300)

    job.refresh_from_db()
    assert (job.status, job.items_done, job.bytes_done) == (JobStatus.CANCELLING, 3, 300)


def test_checkpoint_reads_the_database_sparingly(tmp_path):
    ctx = context_for(IngestJobFactory(status=JobStatus.RUNNING), tmp_path)

    with CaptureQueriesContext(connections[STATE_DB]) as queries:
        for _ in range(1000):
            ctx.checkpoint()

    assert 1 <= len(queries) < 50


def test_heartbeat_beats_through_a_long_step_without_checkpoints(settings):
    job = IngestJobFactory()
    beats = []

    def long_step(job, ctx):
        for _ in range(3):
            time.sleep(1.1)
            beats.append(IngestJob.objects.get(pk=job.pk).heartbeat_at)

    assert run(job, long_step) == JobStatus.COMPLETED
    assert beats[0] < beats[-1]
    assert not (settings.INGEST_WORK_DIR / str(job.pk)).exists()


@pytest.mark.parametrize("status", [JobStatus.CANCELLED, JobStatus.RUNNING, JobStatus.COMPLETED])
def test_a_job_that_is_not_queued_is_left_alone(status):
    job = IngestJobFactory(status=status)
    calls = []

    assert run(job, lambda job, ctx: calls.append(job)) == status
    assert calls == []
    assert not job.events.exists()


def test_an_internal_error_fails_the_job_with_a_sentence_and_a_reference(caplog):
    job = IngestJobFactory()

    def broken(job, ctx):
        raise RuntimeError("disk on fire at /srv/secret/path")

    assert run(job, broken) == JobStatus.FAILED
    job.refresh_from_db()
    # People see a sentence and a reference; the exception's text stays in the logs.
    assert "disk on fire" not in job.error and "RuntimeError" not in job.error
    assert "/srv/secret" not in job.events.get(action="fail").reason
    match = re.search(r"reference ([0-9a-f]{12})", job.error)
    assert match, job.error
    assert job.error.startswith("the job stopped on an internal error")
    logged = [r for r in caplog.records if match[1] in r.getMessage()]
    assert logged and logged[0].exc_info[0] is RuntimeError
    assert "disk on fire" in str(logged[0].exc_info[1])


def test_a_cancel_accepted_as_the_work_ends_wins_over_completion():
    job = IngestJobFactory()

    def finishes_as_cancel_lands(job, ctx):
        in_thread(lifecycle.request_cancel, IngestJob.objects.get(pk=job.pk))

    assert run(job, finishes_as_cancel_lands) == JobStatus.CANCELLED
    job.refresh_from_db()
    assert job.result["partial"] is True
    assert [e.action for e in job.events.all()] == ["start", "cancel", "cancelled"]


@pytest.fixture
def shutdown_flag():
    """The work horse's shutdown flag, cleared again after the test."""
    yield runner.request_shutdown
    runner._shutdown.clear()


def test_shutdown_puts_the_job_back_in_the_queue(shutdown_flag):
    job = IngestJobFactory()

    def interrupted(job, ctx):
        shutdown_flag()
        ctx.checkpoint()

    assert run(job, interrupted) == JobStatus.QUEUED
    job.refresh_from_db()
    assert job.worker_host == ""
    assert job.events.last().action == "requeue"


def test_a_cancel_accepted_before_a_shutdown_still_wins(shutdown_flag):
    job = IngestJobFactory()

    def cancelled_then_interrupted(job, ctx):
        in_thread(lifecycle.request_cancel, IngestJob.objects.get(pk=job.pk))
        shutdown_flag()
        ctx.checkpoint()

    assert run(job, cancelled_then_interrupted) == JobStatus.CANCELLED
    assert [e.action for e in job.events.all()] == ["start", "cancel", "cancelled"]


LONG_STATEMENT = {
    # About a minute of work for the database unless something stops it.
    "postgresql": "SELECT pg_sleep(60)",
    "sqlite": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
    "SELECT count(*) FROM (SELECT x FROM n LIMIT 300000000)",
}


def test_a_cancel_interrupts_a_statement_the_work_is_blocked_in(tmp_path):
    # A COPY that the server is behind on blocks the work where no checkpoint
    # runs; the heartbeat thread stops the statement once a cancel is accepted.
    job = IngestJobFactory(status=JobStatus.RUNNING)
    heartbeat = runner.Heartbeat(job, using=STATE_DB)
    heartbeat.start()
    ctx = JobContext(job, work_dir=tmp_path, using=STATE_DB, watcher=heartbeat)
    default = connections["default"]
    cancel = threading.Timer(0.3, in_thread, [lifecycle.request_cancel, job])
    try:
        with pytest.raises(JobCancelled) as raised, ctx.interruptible(), default.cursor() as c:
            cancel.start()
            c.execute(LONG_STATEMENT[default.vendor])
    finally:
        cancel.join()
        heartbeat.stop()

    assert "interrupt" in str(raised.value.__context__) or "cancel" in str(raised.value.__context__)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLING


def test_no_interrupt_reaches_the_work_once_it_left_the_interruptible_part(tmp_path):
    job = IngestJobFactory(status=JobStatus.RUNNING)
    heartbeat = runner.Heartbeat(job, using=STATE_DB)
    heartbeat.start()
    ctx = JobContext(job, work_dir=tmp_path, using=STATE_DB, watcher=heartbeat)
    try:
        with ctx.interruptible():
            pass
        lifecycle.request_cancel(IngestJob.objects.get(pk=job.pk))
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")  # the heartbeat would have had 6 chances
            time.sleep(0.3)
            cursor.execute("SELECT 2")
            assert cursor.fetchone() == (2,)
    finally:
        heartbeat.stop()
    with pytest.raises(JobCancelled):
        ctx.checkpoint(force=True)


@postgres_only
def test_the_final_transition_survives_its_connection_dropping_with_the_work():
    job = IngestJobFactory()

    def work(job, ctx):
        state = connections[STATE_DB]
        pid = state.connection.info.backend_pid
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        raise runner.JobFailed("the source went away.")

    assert run(job, work) == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error == "the source went away."


class CountingHeartbeat(runner.Heartbeat):
    reads = 0

    def _watch_once(self):
        self.reads += 1
        super()._watch_once()


def test_the_heartbeat_reads_the_flag_often_only_while_the_checkpoints_use_it():
    job = IngestJobFactory(status=JobStatus.RUNNING)
    heartbeat = CountingHeartbeat(job, using=STATE_DB)
    heartbeat.start()
    try:
        time.sleep(0.6)  # a step with no checkpoints: 12 chances at 50 ms
        idle = heartbeat.reads
        for _ in range(30):  # checkpoints every 20 ms for 0.6 s
            heartbeat.status_seen(within=2 * runner.CHECK_INTERVAL)
            time.sleep(0.02)
        asked = heartbeat.reads - idle
    finally:
        heartbeat.stop()

    assert idle <= 2  # the first reading, then one a second
    assert asked >= 6
    assert heartbeat.status_seen(within=1) == JobStatus.RUNNING
