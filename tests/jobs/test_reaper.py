"""One reaper pass against the real database and Redis (no worker running)."""

import uuid
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from rq.worker import Worker as RQWorker

from ingest.models import IngestJob
from ingest.services import job_enqueue
from jobs.models import JobStatus
from jobs.reaper import Reaper
from tests.factories import IngestJobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reaper(settings, redis_conn):
    return make_reaper(settings, redis_conn)


def make_reaper(settings, redis_conn) -> Reaper:
    return Reaper(
        model=IngestJob,
        connection=redis_conn,
        enqueue=lambda job: job_enqueue(job=job),
        work_root=settings.INGEST_WORK_DIR,
        cancel_grace=timedelta(seconds=10),
        heartbeat_timeout=timedelta(seconds=30),
    )


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def status_of(job) -> str:
    job.refresh_from_db()
    return job.status


def test_overdue_cancel_is_finalized_even_when_no_worker_runs_it(reaper):
    overdue = IngestJobFactory(
        status=JobStatus.CANCELLING, cancel_requested_at=ago(11), heartbeat_at=ago(1)
    )
    recent = IngestJobFactory(
        status=JobStatus.CANCELLING, cancel_requested_at=ago(5), heartbeat_at=ago(1)
    )

    report = reaper.reap()

    assert report.escalated == [overdue.pk]
    assert status_of(overdue) == JobStatus.CANCELLED
    assert overdue.events.get().reason == "stopped after grace period"
    assert overdue.result["partial"] is True
    assert status_of(recent) == JobStatus.CANCELLING


def test_escalated_job_marked_for_deletion_ends_deleted(reaper):
    job = IngestJobFactory(
        status=JobStatus.CANCELLING, cancel_requested_at=ago(60), delete_requested_at=ago(60)
    )

    reaper.reap()

    job.refresh_from_db()
    assert (job.status, job.is_deleted) == (JobStatus.CANCELLED, True)
    assert not IngestJob.objects.filter(pk=job.pk).exists()
    assert [e.action for e in job.events.all()] == ["cancelled", "delete"]


def test_stale_heartbeats_fail_running_and_finish_cancelling_jobs(reaper):
    running = IngestJobFactory(status=JobStatus.RUNNING, heartbeat_at=ago(31))
    cancelling = IngestJobFactory(
        status=JobStatus.CANCELLING, heartbeat_at=ago(31), cancel_requested_at=ago(2)
    )
    alive = IngestJobFactory(status=JobStatus.RUNNING, heartbeat_at=ago(2))

    report = reaper.reap()

    assert sorted(report.lost) == sorted([running.pk, cancelling.pk])
    assert status_of(running) == JobStatus.FAILED
    assert running.error.startswith("worker lost")
    assert status_of(cancelling) == JobStatus.CANCELLED
    assert status_of(alive) == JobStatus.RUNNING


def test_queued_job_missing_from_redis_is_enqueued_again_once(settings, reaper, redis_conn):
    lost = IngestJobFactory(status=JobStatus.QUEUED, created_at=ago(60))
    just_created = IngestJobFactory(status=JobStatus.QUEUED)
    second_reaper = make_reaper(settings, redis_conn)

    first, second = reaper.reap(), second_reaper.reap()

    assert first.requeued == [lost.pk]
    assert second.requeued == []
    queue = django_rq.get_queue("ingest")
    assert queue.job_ids == [str(lost.pk)]
    assert RQJob.fetch(str(lost.pk), connection=redis_conn).args == (str(lost.pk),)
    assert str(just_created.pk) not in queue.job_ids


def test_queued_job_still_in_redis_is_left_alone(reaper):
    job = IngestJobFactory(status=JobStatus.QUEUED, created_at=ago(60))
    job_enqueue(job=job)

    assert reaper.reap().requeued == []
    assert django_rq.get_queue("ingest").count == 1


def started_by(job, worker_name: str, redis_conn) -> None:
    """The job's RQ entry as a worker leaves it once it began the job."""
    job_enqueue(job=job)
    rq_job = RQJob.fetch(str(job.pk), connection=redis_conn)
    rq_job.worker_name = worker_name
    rq_job.set_status(RQStatus.STARTED)
    rq_job.save()
    django_rq.get_queue("ingest").remove(str(job.pk))


def test_queued_job_started_by_a_worker_now_gone_is_enqueued_again(reaper, redis_conn):
    # The worker was killed after its horse put the job back (SIGTERM, then
    # SIGKILL): RQ still says "started", and would for an hour.
    job = IngestJobFactory(status=JobStatus.QUEUED, created_at=ago(60))
    started_by(job, "worker-killed", redis_conn)

    assert reaper.reap().requeued == [job.pk]
    assert django_rq.get_queue("ingest").job_ids == [str(job.pk)]


def test_queued_job_taken_off_the_queue_by_a_worker_killed_at_once_is_enqueued_again(
    reaper, redis_conn
):
    # The worker popped the id and was killed before it marked the job
    # started: RQ still says "queued", but no queue holds it.
    job = IngestJobFactory(status=JobStatus.QUEUED, created_at=ago(60))
    job_enqueue(job=job)
    django_rq.get_queue("ingest").remove(str(job.pk))

    assert reaper.reap().requeued == [job.pk]
    assert django_rq.get_queue("ingest").job_ids == [str(job.pk)]


def test_queued_job_whose_rq_entry_vanishes_mid_read_is_enqueued_again(reaper, redis_conn):
    # The entry was removed between RQ's fetch and its status read: the
    # status is gone, and RQ raises instead of answering.
    job = IngestJobFactory(status=JobStatus.QUEUED, created_at=ago(60))
    job_enqueue(job=job)
    django_rq.get_queue("ingest").remove(str(job.pk))
    redis_conn.hdel(f"rq:job:{job.pk}", "status")

    assert reaper.reap().requeued == [job.pk]


def test_queued_job_started_by_a_live_worker_is_left_alone(reaper, redis_conn):
    job = IngestJobFactory(status=JobStatus.QUEUED, created_at=ago(60))
    started_by(job, "worker-alive", redis_conn)
    redis_conn.hset(RQWorker.redis_worker_namespace_prefix + "worker-alive", "state", "busy")

    assert reaper.reap().requeued == []
    assert django_rq.get_queue("ingest").job_ids == []


def test_work_dirs_of_finished_or_unknown_jobs_are_swept(reaper, settings):
    active = IngestJobFactory(status=JobStatus.RUNNING, heartbeat_at=ago(1))
    done = IngestJobFactory(status=JobStatus.COMPLETED)
    root = settings.INGEST_WORK_DIR
    for name in (active.pk, done.pk, uuid.uuid4(), "not-a-job"):
        (root / str(name)).mkdir(parents=True)
        (root / str(name) / "source").write_text("x")

    report = reaper.reap()

    assert done.pk in report.work_dirs_removed
    assert len(report.work_dirs_removed) == 2  # the finished job's and the unknown one's
    assert sorted(p.name for p in root.iterdir()) == sorted([str(active.pk), "not-a-job"])
