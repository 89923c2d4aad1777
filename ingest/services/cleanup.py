"""What a finished job leaves behind: cleanup, restore and purge."""

import contextlib
import logging
import os
from dataclasses import asdict, astuple, dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import Job as RQJob
from rq.results import Result as RQResult

from ingest import storage
from ingest.models import (
    Chunk,
    Document,
    DocumentSource,
    IngestJob,
)
from ingest.services import retry
from ingest.services.queue import ingest_queue
from jobs import lifecycle, runner
from jobs.models import JobStatus
from jobs.runner import work_dir_for

logger = logging.getLogger(__name__)


@dataclass
class CleanupReport:
    """What a cleanup really removed; all zero when there was nothing left."""

    files_removed: int = 0
    bytes_freed: int = 0
    work_dirs_removed: int = 0
    rq_entries_removed: int = 0
    documents_removed: int = 0
    chunks_removed: int = 0

    @property
    def removed_anything(self) -> bool:
        return any(astuple(self))

    @property
    def detail(self) -> str:
        if not self.removed_anything:
            return "nothing to remove: this job was already cleaned up."
        return (
            f"removed {self.files_removed} stored file(s) and {self.work_dirs_removed} work "
            f"directory ({readable_size(self.bytes_freed)} freed), {self.rq_entries_removed} queue "
            f"entries, {self.documents_removed} document(s) with {self.chunks_removed} chunk(s)."
        )


def readable_size(size: int) -> str:
    """``163459656`` as ``155.9 MB``: Django's filesizeformat, with a plain
    space, since this sentence is also the API's and the terminal's."""
    return filesizeformat(size).replace("\xa0", " ")


def job_cleanup(*, job: IngestJob, actor=None, documents: bool = False) -> CleanupReport:
    """Remove what a finished job leaves behind: its stored uploads, a work
    directory left on this host, its RQ entries and, with ``documents``, the
    documents no other job produced too (their chunks cascade).

    The job row is locked meanwhile, so two cleanups of one job count each
    removal once; a file already gone is not an error. Audited, every call.
    """
    with transaction.atomic():
        job = IngestJob.all_objects.select_for_update().get(pk=job.pk)
        if not job.is_terminal:
            raise lifecycle.InvalidTransition(
                job, "cleanup", f"job is {job.status}: cancel it, or wait until it finishes."
            )
        report = CleanupReport()
        report.files_removed, report.bytes_freed = _remove_uploads(job)
        # From now on nothing can be retried from them (ingest.actions reads it).
        IngestJob.all_objects.filter(pk=job.pk, uploads_removed_at__isnull=True).update(
            uploads_removed_at=timezone.now()
        )
        work_bytes = remove_work_dir(job=job)
        if work_bytes is not None:
            report.work_dirs_removed, report.bytes_freed = 1, report.bytes_freed + work_bytes
        report.rq_entries_removed = remove_rq_entries(job_id=str(job.pk))
        if documents:
            report.documents_removed, report.chunks_removed = _remove_own_documents(job)
        lifecycle.record_action(job, action="cleanup", actor=actor, extra=asdict(report))
    logger.info("job %s cleaned up: %s", job.pk, report.detail)
    return report


def _remove_uploads(job: IngestJob) -> tuple[int, int]:
    """Delete the job's stored uploads (files on disk or objects in the bucket)."""
    return _remove_paths(job.files.values_list("storage_path", flat=True), job)


def _remove_paths(paths, job: IngestJob) -> tuple[int, int]:
    removed = freed = 0
    for path in paths:
        size = storage.remove(path) if path else None
        if size is not None:
            freed += size
            removed += 1
    # The job's upload directory, once empty (local storage only).
    with contextlib.suppress(NotImplementedError, OSError):
        os.rmdir(default_storage.path(storage.upload_dir(job)))
    return removed, freed


def remove_work_dir(*, job: IngestJob) -> int | None:
    """Remove the job's work directory on this host; its size, or None if absent."""
    return runner.remove_work_dir(work_dir_for(job, settings.INGEST_WORK_DIR))


def remove_rq_entries(*, job_id: str) -> int:
    """Remove the job from its queue, its registries, and its hash and results."""
    queue = ingest_queue()
    registries = [
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.canceled_job_registry,
        queue.deferred_job_registry,
        queue.scheduled_job_registry,
    ]
    try:
        removed = queue.remove(job_id) + sum(r.remove(job_id) for r in registries)
        keys = [RQJob.key_for(job_id), RQJob.dependents_key_for(job_id), RQResult.get_key(job_id)]
        return removed + queue.connection.delete(*keys)
    except RedisError as exc:
        logger.warning("job %s: RQ entries not removed (%s)", job_id, exc)
        return 0


def own_documents(job: IngestJob):
    """The documents every source of which is a file of this job (never one that
    another job also produced)."""
    elsewhere = DocumentSource.objects.exclude(file__job=job).values("document_id")
    return (
        Document.objects.filter(project_id=job.project_id)
        .filter(Q(job=job) | Q(sources__file__job=job))
        .exclude(pk__in=elsewhere)
        .distinct()
    )


def _remove_own_documents(job: IngestJob) -> tuple[int, int]:
    candidates = own_documents(job).values("pk")
    locked = (
        Document.objects.select_for_update().filter(pk__in=candidates).values_list("pk", flat=True)
    )
    # Asked again under the lock: a job that reused one of these meanwhile has
    # committed its source (and the document is spared), or its commit waits
    # for ours and then writes the document afresh (see store.write_document).
    ids = list(own_documents(job).filter(pk__in=list(locked)).values_list("pk", flat=True))
    if not ids:
        return 0, 0
    _, per_model = Document.objects.filter(pk__in=ids).delete()
    return per_model.get(Document._meta.label, 0), per_model.get(Chunk._meta.label, 0)


def job_restore(*, job: IngestJob, actor=None, reason: str = "") -> lifecycle.Outcome:
    """Undelete a soft-deleted job, giving back the status it had before its
    deletion (from the audit trail; CANCELLED when the trail does not say).

    Refused when its stored uploads were removed: the restored job would claim
    files that no longer exist. Refused too for a retry whose job was retried
    again after its deletion: a chain of retries never forks.
    """
    if not job.is_deleted:
        raise lifecycle.InvalidTransition(job, "restore", "job is not deleted; nothing to restore.")
    missing = [f.name for f in job.files.all() if not storage.exists(f.storage_path)]
    if missing:
        raise lifecycle.InvalidTransition(
            job,
            "restore",
            f"its uploaded files were removed ({', '.join(missing[:3])}); it cannot be restored.",
        )
    deletion = lifecycle.events_for(job).filter(action="delete").last()
    previous = deletion.from_status if deletion else JobStatus.CANCELLED
    with transaction.atomic():
        _refuse_a_second_retry(job)
        outcome = lifecycle.restore(job, to_status=previous, actor=actor, reason=reason)
    if not outcome:
        raise lifecycle.InvalidTransition(job, "restore", "job was restored or purged meanwhile.")
    return outcome


def _refuse_a_second_retry(job: IngestJob) -> None:
    """Refuse to restore a job of a chain of retries when a live job of the
    chain is neither one it retries nor one retrying it: the job it retries
    was retried again after its deletion, and two live retries of one job
    would take the same files twice. The chain is locked as ``job_retry``
    locks it, so a retry and a restore of one chain take their turns."""
    if job.chain is None:
        return
    retry.lock_chain(job)
    parent_of = dict(IngestJob.all_objects.filter(chain=job.chain).values_list("pk", "retry_of_id"))
    line = {job.pk}
    ancestor = parent_of.get(job.pk)
    while ancestor is not None:
        line.add(ancestor)
        ancestor = parent_of.get(ancestor)
    for pk in parent_of:
        up = pk
        while up is not None and up not in line:
            up = parent_of.get(up)
        if up == job.pk:
            line.add(pk)  # one of its own retries, or theirs
    other = (
        IngestJob.objects.filter(chain=job.chain)
        .exclude(pk__in=line)
        .order_by("-created_at")
        .first()
    )
    if other is not None:
        source = other.retry_of_id or other.pk
        raise lifecycle.InvalidTransition(
            job,
            "restore",
            f"job {source} was retried again as job {other.pk} after this one was "
            "deleted; restoring this one would retry the same files twice.",
        )


PURGED_VIA = ("admin", "command", "reaper")


def job_purge(*, job: IngestJob, actor=None, via: str = "reaper") -> bool:
    """Remove a soft-deleted job for good, with its files, work directory and RQ
    entries. False if it was gone already.

    Its audit trail stays, and grows a ``purge`` event naming who (``actor``)
    or what (``via``: admin, command, or the reaper's automatic retention, the
    default) purged it; every event already holds the job's id, name and
    project. Its documents stay too (the project's data), and keep the job and
    file they came from as plain values."""
    return job_purge_counted(job=job, actor=actor, via=via) is not None


def job_purge_counted(*, job: IngestJob, actor=None, via: str = "reaper") -> CleanupReport | None:
    """:func:`job_purge`, saying what it removed; None if the job was gone already.

    The row goes first, under a lock, so a restore racing with this purge finds
    nothing rather than a job whose files are being removed.
    """
    if via not in PURGED_VIA:
        raise ValueError(f"via must be one of {', '.join(PURGED_VIA)}, not {via!r}")
    with transaction.atomic():
        locked = IngestJob.all_objects.select_for_update().filter(pk=job.pk).first()
        if locked is None:
            return None
        if not locked.is_deleted:
            raise lifecycle.InvalidTransition(
                locked, "purge", "job is not deleted; delete it before purging it."
            )
        paths = [p for p in locked.files.values_list("storage_path", flat=True) if p]
        by = f" by {actor.get_username()}" if actor is not None else ""
        lifecycle.record_action(locked, action="purge", actor=actor, reason=f"purged ({via}){by}")
        IngestJob.all_objects.filter(pk=locked.pk).purge()
    report = CleanupReport()
    try:
        report.files_removed, report.bytes_freed = _remove_paths(paths, locked)
    except storage.StorageUnavailable as exc:
        # The row is gone already; the objects stay behind until the bucket answers.
        logger.warning("job %s purged, but its stored uploads were not removed: %s", job.pk, exc)
    if (work_bytes := remove_work_dir(job=locked)) is not None:
        report.work_dirs_removed, report.bytes_freed = 1, report.bytes_freed + work_bytes
    report.rq_entries_removed = remove_rq_entries(job_id=str(locked.pk))
    logger.info("job %s purged (%s): %s", locked.pk, via, report.detail)
    return report


def deleted_jobs_older_than(*, age: timedelta):
    """Soft-deleted jobs whose deletion is older than ``age``: the purge's candidates."""
    cutoff = timezone.now() - age
    return IngestJob.all_objects.filter(deleted_at__lt=cutoff).order_by("deleted_at")


def purge_deleted_jobs(
    *, age: timedelta, dry_run: bool = False, actor=None, via: str = "reaper"
) -> list[IngestJob]:
    """Purge every job deleted more than ``age`` ago; the list of those purged
    (or, with ``dry_run``, of those that would be). ``actor`` and ``via`` are
    recorded in each job's ``purge`` event (see ``job_purge``)."""
    candidates = list(deleted_jobs_older_than(age=age).select_related("project"))
    if dry_run:
        return candidates
    purged = []
    for job in candidates:
        if report := job_purge_counted(job=job, actor=actor, via=via):
            job.purge_report = report  # what went with it, for the caller to say
            purged.append(job)
    return purged
