"""The reaper: nothing stays RUNNING or CANCELLING forever, nothing QUEUED is lost.

One pass (``reap``) does four things, each safe to run from several reapers
at once because every state change is a guarded UPDATE:

1. Escalation: a job still CANCELLING after the grace period (a step stuck
   where no checkpoint runs) has its work horse stopped with RQ's stop command
   and is finalized CANCELLED, keeping the files it finished.
2. Lost workers: a RUNNING or CANCELLING job whose heartbeat is older than the
   timeout becomes FAILED ("worker lost") or CANCELLED.
3. Lost queue entries: a QUEUED job that Redis does not hold (an enqueue that
   failed, a flushed Redis, a job put back by a worker shutting down) is
   enqueued again.
4. Work directories on this host whose job is finished or unknown are removed.
5. Retention: jobs soft-deleted longer ago than ``purge_age`` are purged, by
   the ``purge`` callable the concrete job type passes in (this module knows
   neither its settings nor what a purge removes). At most once a
   ``purge_interval``: the candidates' query scans deleted rows, and a purge
   time is measured in days, so a pass a minute is plenty. Two reapers purging
   together are harmless: the purge locks each row and skips one already gone.
"""

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from rq.queue import Queue as RQQueue
from rq.worker import Worker as RQWorker

from jobs import lifecycle
from jobs.models import ACTIVE_STATUSES, Job, JobStatus
from jobs.runner import remove_work_dir

logger = logging.getLogger(__name__)

# RQ states in which the queue still holds, or is running, the job.
RQ_ALIVE = {RQStatus.QUEUED, RQStatus.STARTED, RQStatus.DEFERRED, RQStatus.SCHEDULED}
ENQUEUE_SETTLE = timedelta(seconds=5)  # let the API's after-commit enqueue land first


@dataclass
class ReapReport:
    escalated: list = field(default_factory=list)
    lost: list = field(default_factory=list)
    requeued: list = field(default_factory=list)
    work_dirs_removed: list = field(default_factory=list)
    purged: list = field(default_factory=list)

    def __bool__(self):
        return any((self.escalated, self.lost, self.requeued, self.work_dirs_removed, self.purged))


@dataclass
class Reaper:
    model: type[Job]
    connection: Redis
    enqueue: Callable[[Job], bool]
    work_root: Path
    # A cancel not finished after cancel_grace is escalated; a job whose
    # heartbeat is older than heartbeat_timeout has lost its worker.
    cancel_grace: timedelta
    heartbeat_timeout: timedelta
    using: str = "default"
    # Retention: purge(age=...) removes the jobs deleted longer ago than age
    # and returns them; no purge_age (or no purge) turns it off.
    purge: Callable[..., list] | None = None
    purge_age: timedelta | None = None
    purge_interval: float = 60.0
    _last_purge: float | None = field(default=None, init=False, repr=False)

    def reap(self) -> ReapReport:
        report = ReapReport()
        now = timezone.now()
        self.escalate(now, report)
        self.fail_lost(now, report)
        self.requeue_lost(now, report)
        self.sweep_work_dirs(report)
        self.purge_expired(report)
        return report

    @property
    def jobs(self):
        return self.model.all_objects.using(self.using)

    def escalate(self, now, report: ReapReport) -> None:
        overdue = self.jobs.filter(
            status=JobStatus.CANCELLING, cancel_requested_at__lt=now - self.cancel_grace
        )
        for job in overdue:
            self.stop_horse(job)
            outcome = lifecycle.finish_cancelled(
                job,
                result=job.build_result(),
                reason="stopped after grace period",
                using=self.using,
            )
            if outcome:
                report.escalated.append(job.pk)

    def stop_horse(self, job: Job) -> None:
        try:
            send_stop_job_command(self.connection, str(job.pk))
            logger.info("job %s: stop command sent to its work horse", job.pk)
        except (NoSuchJobError, InvalidJobOperation):
            logger.info("job %s: not executing in any worker; finalizing", job.pk)
        except RedisError as exc:
            # The horse, if alive, finds the job CANCELLED at its next checkpoint.
            logger.warning("job %s: stop command not sent (%s)", job.pk, exc)

    def fail_lost(self, now, report: ReapReport) -> None:
        stale = self.jobs.filter(
            status__in=[JobStatus.RUNNING, JobStatus.CANCELLING],
            heartbeat_at__lt=now - self.heartbeat_timeout,
        )
        for job in stale:
            if lifecycle.worker_lost(job, using=self.using):
                report.lost.append(job.pk)

    def requeue_lost(self, now, report: ReapReport) -> None:
        queued = self.jobs.filter(
            status=JobStatus.QUEUED, deleted_at__isnull=True, created_at__lt=now - ENQUEUE_SETTLE
        )
        for job in queued:
            try:
                if self.in_queue(job) or not self.claim_enqueue(job):
                    continue
            except RedisError as exc:
                logger.warning("reaper cannot reach Redis: %s", exc)
                return
            if self.enqueue(job):
                logger.info("job %s was missing from the queue; enqueued again", job.pk)
                report.requeued.append(job.pk)

    def in_queue(self, job: Job) -> bool:
        try:
            rq_job = RQJob.fetch(str(job.pk), connection=self.connection)
            status = rq_job.get_status()
        except (NoSuchJobError, InvalidJobOperation):
            # InvalidJobOperation: the entry vanished between the two reads
            # (a cancel removed it), which once stopped the reaper for good.
            return False
        if status == RQStatus.STARTED:
            # A worker killed right after its horse put the job back in the
            # database leaves the RQ job "started" until RQ's own cleanup, an
            # hour later: it counts only while its worker is still known.
            return bool(rq_job.worker_name) and self.worker_known(rq_job.worker_name)
        if status == RQStatus.QUEUED:
            # A worker killed between taking the id off the queue and marking
            # the job started leaves it "queued" in no queue at all.
            queue_key = RQQueue.redis_queue_namespace_prefix + (rq_job.origin or "")
            return self.connection.lpos(queue_key, rq_job.id) is not None
        return status in RQ_ALIVE

    def worker_known(self, name: str) -> bool:
        return bool(self.connection.exists(RQWorker.redis_worker_namespace_prefix + name))

    def claim_enqueue(self, job: Job) -> bool:
        # Two reapers may see the same lost job; only one enqueues it.
        return bool(self.connection.set(f"jobs:reaper:enqueue:{job.pk}", 1, nx=True, ex=10))

    def sweep_work_dirs(self, report: ReapReport) -> None:
        if not self.work_root.is_dir():
            return
        for path in self.work_root.iterdir():
            job_id = _uuid_or_none(path.name)
            if job_id is None or not path.is_dir():
                continue
            alive = self.jobs.filter(pk=job_id, status__in=ACTIVE_STATUSES).exists()
            if not alive:
                remove_work_dir(path)
                report.work_dirs_removed.append(job_id)

    def purge_expired(self, report: ReapReport) -> None:
        if self.purge is None or self.purge_age is None:
            return
        clock = time.monotonic()
        if self._last_purge is not None and clock - self._last_purge < self.purge_interval:
            return
        self._last_purge = clock
        purged = self.purge(age=self.purge_age)
        for job in purged:
            logger.info("job %s purged: deleted more than %s ago", job.pk, self.purge_age)
        report.purged.extend(job.pk for job in purged)


def _uuid_or_none(name: str):
    try:
        return uuid.UUID(name)
    except ValueError:
        return None
