"""The worker side of a job: start, checkpoints, heartbeat, finish, clean up.

``run_job`` is what an RQ task calls. It moves the job to RUNNING, hands the
work a :class:`JobContext`, and always ends the job in a final state through
``jobs.lifecycle``. Everything about the job row goes through the
``JOB_STATE_DB`` connection in autocommit, so the work's own write
transactions on "default" never hold a lock on the job row and always see a
cancel the moment it is committed.
"""

import contextlib
import contextvars
import logging
import shutil
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.utils import timezone

from jobs import events, lifecycle, logs
from jobs.models import Job, JobStatus

logger = logging.getLogger(__name__)

HOSTNAME = socket.gethostname()
CHECK_INTERVAL = 0.05  # seconds between two reads of the cancel flag
PROGRESS_INTERVAL = 0.25  # seconds between two progress writes
HEARTBEAT_INTERVAL = 1.0


class JobCancelled(Exception):
    """A cancel was accepted: stop now, keep what is finished."""


class JobInterrupted(Exception):
    """The worker is shutting down: stop now and put the job back in the queue."""


class JobLost(Exception):
    """The job is no longer ours (finished by the reaper, for example)."""


class JobFailed(Exception):
    """The job as a whole failed; the message is shown to people as it is."""


_shutdown = threading.Event()


def request_shutdown(signum=None, frame=None) -> None:
    """Signal handler in the work horse: stop at the next checkpoint."""
    _shutdown.set()


def install_shutdown_handler() -> None:
    signal.signal(signal.SIGTERM, request_shutdown)


def state_db() -> str:
    return settings.JOB_STATE_DB


def work_dir_for(job: Job, work_root: Path | str) -> Path:
    return Path(work_root) / str(job.pk)


def remove_work_dir(path: Path) -> int | None:
    """Remove a job's work directory; the bytes it held, or None if there was none."""
    if not path.is_dir():
        return None
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    shutil.rmtree(path, ignore_errors=True)
    return size


class JobContext:
    """What the work sees of its job: checkpoints, progress, a work directory."""

    def __init__(self, job: Job, *, work_dir: Path, using: str, watcher: "Heartbeat | None" = None):
        self.job = job
        self.work_dir = work_dir
        self.using = using
        self._last_check = 0.0
        self._last_progress = 0.0
        self._rows = type(job).all_objects.using(using).filter(pk=job.pk)
        self._watcher = watcher

    def checkpoint(self, *, force: bool = False) -> None:
        """Raise if the job must stop. Reads the database at most every 50 ms.

        With a watcher (the runner's heartbeat thread, which reads the flag
        every 50 ms anyway), its reading is used while it is fresh: the work
        then does not wait for a query of its own (a third of the time spent
        in ``checkpoint()``: ``bench.checkpoint_overhead``).
        """
        if _shutdown.is_set():
            raise JobInterrupted("worker shutting down")
        now = time.monotonic()
        status = None
        if not force and self._watcher is not None:
            status = self._watcher.status_seen(within=2 * CHECK_INTERVAL)
        if status is None:
            if not force and now - self._last_check < CHECK_INTERVAL:
                return
            self._last_check = now
            status = self._rows.values_list("status", flat=True).first()
        if status == JobStatus.CANCELLING:
            raise JobCancelled()
        if status != JobStatus.RUNNING:
            raise JobLost(f"job is {status}")

    def progress(self, *, force: bool = False, **counters: int) -> None:
        """Write progress counters (only those columns), at most every 250 ms."""
        for name, value in counters.items():
            setattr(self.job, name, value)
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        fields = ("items_total", "items_done", "items_failed", "bytes_total", "bytes_done")
        # Only a job still being worked on: a horse that outlived its job (the
        # reaper finalized it) must not keep rewriting a finished row.
        self._rows.filter(status__in=[JobStatus.RUNNING, JobStatus.CANCELLING]).update(
            **{name: getattr(self.job, name) for name in fields}
        )
        events.publish_progress(self.job)

    @contextlib.contextmanager
    def interruptible(self, alias: str = "default"):
        """Run database work that may block for long (a COPY the server is
        behind on, a commit) so that a cancel still stops it within moments.

        The checkpoints between batches cannot help while the work waits on
        the server: a COPY's writes block once the server falls behind, and
        its end waits for the backlog (PostgreSQL computes each chunk's
        search vector inside the COPY, seconds for a large file: see
        bench.cancel_latency). Meanwhile the heartbeat thread
        reads the cancel flag every 50 ms and, once the job is no longer RUNNING,
        interrupts the statement in progress (PostgreSQL's cancel request,
        SQLite's ``interrupt()``). The interrupted statement's error becomes
        the checkpoint's own ``JobCancelled`` (or ``JobLost``), and the file's
        transaction rolls back as any cancel does.
        """
        if self._watcher is None:
            yield
            return
        connection = connections[alias]
        connection.ensure_connection()
        self._watcher.watch(_interrupter(connection))
        try:
            yield
        except Exception:
            if self._watcher.unwatch():
                self.checkpoint(force=True)  # raises what stopped the statement
            raise
        if self._watcher.unwatch():
            self.checkpoint(force=True)


def _interrupter(connection) -> Callable[[], None]:
    raw = connection.connection
    if connection.vendor == "postgresql":
        return lambda: raw.cancel_safe(timeout=2)
    return raw.interrupt  # SQLite: safe to call from another thread


class Heartbeat(threading.Thread):
    """Beats ``heartbeat_at`` about every second and reads the cancel flag,
    from its own connection.

    A step that runs long between checkpoints is not mistaken for a lost
    worker; a frozen or dead process stops beating and the reaper notices.
    The work's checkpoints use the flag it read (``status_seen``). While the
    work is inside ``JobContext.interruptible()``, it also interrupts the
    work's statement once the job is no longer RUNNING: again every 50 ms
    until the work lets go, as a request that lands between two statements
    is dropped by the server.

    The flag is read every 50 ms only while somebody uses the reading: the
    checkpoints asked for it within ``IDLE_AFTER``, or the work is watched.
    Otherwise (a step with no checkpoints, a job that waits) once a second:
    twenty small queries a second per running job bought nothing there, and
    a checkpoint that comes after such a pause reads the flag itself.
    """

    IDLE_AFTER = 4 * CHECK_INTERVAL

    def __init__(self, job: Job, *, using: str):
        super().__init__(name=f"heartbeat-{job.pk}", daemon=True)
        self._log_context = contextvars.copy_context()  # threads do not inherit it
        self._rows = type(job).all_objects.using(using).filter(pk=job.pk)
        self._stopped = threading.Event()
        self._using = using
        # The work's interrupt while it is watched; the lock makes sure none
        # is sent once unwatch() returned, so it cannot hit later work.
        self._lock = threading.Lock()
        self._interrupt: Callable[[], None] | None = None
        self._fired = False
        self._seen: tuple[str, float] | None = None  # the last flag read, and when
        self._asked = 0.0  # when a checkpoint last asked for it

    def watch(self, interrupt: Callable[[], None]) -> None:
        with self._lock:
            self._interrupt, self._fired = interrupt, False

    def unwatch(self) -> bool:
        """Stop watching; whether the work was interrupted meanwhile."""
        with self._lock:
            self._interrupt = None
            return self._fired

    def status_seen(self, *, within: float) -> str | None:
        """The job's status as last read, if read less than ``within`` ago."""
        seen, self._asked = self._seen, time.monotonic()
        if seen is None or self._asked - seen[1] >= within:
            return None
        return seen[0]

    def run(self):
        self._log_context.run(self._beat)

    def _beat(self):
        next_beat = time.monotonic() + HEARTBEAT_INTERVAL
        try:
            while not self._stopped.wait(CHECK_INTERVAL):
                if self._reading_wanted():
                    self._guard(self._watch_once)
                if time.monotonic() >= next_beat and not self._stopped.is_set():
                    next_beat = time.monotonic() + HEARTBEAT_INTERVAL
                    self._guard(self._beat_once)
        finally:
            connections[self._using].close()

    def _reading_wanted(self) -> bool:
        now, seen = time.monotonic(), self._seen
        return (
            self._interrupt is not None
            or now - self._asked < self.IDLE_AFTER
            or seen is None
            or now - seen[1] >= HEARTBEAT_INTERVAL
        )

    def _beat_once(self):
        self._rows.filter(status__in=[JobStatus.RUNNING, JobStatus.CANCELLING]).update(
            heartbeat_at=timezone.now()
        )

    def _watch_once(self):
        read_at = time.monotonic()
        status = self._rows.values_list("status", flat=True).first()
        self._seen = (status, read_at)
        if status == JobStatus.RUNNING:
            return
        with self._lock:
            if self._interrupt is not None:
                self._fired = True
                try:
                    self._interrupt()
                except Exception as exc:  # the checkpoints still see the cancel
                    logger.warning("could not interrupt the work's statement: %s", exc)

    def _guard(self, step):
        try:
            step()
        except DatabaseError as exc:
            logger.warning("heartbeat failed: %s", exc)
            # A dropped connection stays broken until closed: the next beat
            # then opens a new one.
            connections[self._using].close()

    def stop(self):
        self._stopped.set()
        self.join(timeout=5)


def run_job(
    model: type[Job], job_id, work: Callable[[Job, JobContext], None], *, work_root: Path | str
) -> str:
    """Run ``work`` for the job ``job_id`` and finish it. Returns the final status.

    The work gets its own directory, ``<work_root>/<job id>/``, removed when it
    ends. A job that is not QUEUED (cancelled meanwhile, or delivered twice) is
    left alone: redelivery is harmless.
    """
    job = model.all_objects.using(state_db()).filter(pk=job_id).first()
    if job is None or job.status != JobStatus.QUEUED or job.deleted_at:
        logger.info("job %s is %s; nothing to run", job_id, job.status if job else "unknown")
        return job.status if job else "unknown"
    with logs.bind(**job.log_fields()):
        return _run(job, work, work_dir_for(job, work_root), state_db())


def _run(job: Job, work, work_dir: Path, using: str) -> str:
    if not lifecycle.start(job, worker_host=HOSTNAME, using=using):
        logger.info("job %s was taken or cancelled before it started", job.pk)
        return job.status
    work_dir.mkdir(parents=True, exist_ok=True)
    heartbeat = Heartbeat(job, using=using)
    heartbeat.start()
    try:
        context = JobContext(job, work_dir=work_dir, using=using, watcher=heartbeat)
        finish = _run_work(job, work, context, using)
    finally:
        heartbeat.stop()
        remove_work_dir(work_dir)
    # Only now, with the work directory gone, is the job seen finished: a
    # client that reads CANCELLED finds nothing left behind on the worker.
    try:
        finish()
    except (OperationalError, InterfaceError):
        # The outage that stopped the work may have dropped the job-state
        # connection too: once more on a new one, as a job left RUNNING would
        # wait for the reaper's heartbeat timeout. Transitions are guarded,
        # so one that did commit before the error is not applied twice.
        close_broken_connections()
        finish()
    job.refresh_from_db(using=using)
    return job.status


def _run_work(job, work, context, using) -> Callable[[], object]:
    """Run the work; return the final transition it calls for. The result is
    built when that is called, so that a retry on new connections (see
    ``_run``) builds it again rather than fail the same way."""
    try:
        # The work writes its own data on "default"; it gets its own copy of
        # the row there, while the context keeps the job-state connection's.
        work(type(job).all_objects.using("default").get(pk=job.pk), context)
        context.progress(force=True)
    except JobCancelled:
        return lambda: lifecycle.finish_cancelled(job, result=job.build_result(), using=using)
    except JobInterrupted:
        return lambda: _requeue_unless_cancelled(job, result=job.build_result(), using=using)
    except (OperationalError, InterfaceError) as exc:
        # The database dropped our connections (a restart, a failover, a
        # terminated backend). Django keeps a broken connection until it is
        # closed, and a horse has no request cycle to close it: close both,
        # so that the transition below opens new ones. The file in progress
        # rolled back; the job goes back to the queue with its finished files.
        logger.warning("job %s lost its database connection: %s", job.pk, exc)
        close_broken_connections()
        reason = "database connection lost; finished files kept"
        return partial(_requeue_unless_cancelled, job, result=None, using=using, reason=reason)
    except JobLost as exc:
        logger.warning("job %s stopped: %s", job.pk, exc)
        return lambda: None
    except JobFailed as exc:
        error = str(exc)  # the name exc is gone once the except clause ends
        return lambda: lifecycle.fail(job, error=error, result=job.build_result(), using=using)
    except Exception:
        # The exception's text may hold paths, SQL or data: it goes to the logs
        # only, under a reference that people can quote to an operator.
        reference = uuid.uuid4().hex[:12]
        logger.exception("job %s broke (reference %s)", job.pk, reference)
        error = (
            "the job stopped on an internal error; run it again, and if it fails again "
            f"give an operator the reference {reference}."
        )
        return lambda: lifecycle.fail(job, error=error, result=job.build_result(), using=using)
    return lambda: lifecycle.complete(job, result=job.build_result(), using=using)


def close_broken_connections() -> None:
    for alias in {"default", state_db()}:
        connections[alias].close()


def _requeue_unless_cancelled(
    job, *, result: dict | None, using: str, reason: str = "worker shut down; finished files kept"
) -> None:
    # A cancel accepted before the shutdown still wins: the requeue loses to
    # CANCELLING, and the job ends CANCELLED here rather than waiting for the
    # reaper's grace period.
    if not lifecycle.requeue(job, reason=reason, using=using):
        lifecycle.finish_cancelled(job, result=result or job.build_result(), using=using)
