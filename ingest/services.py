"""Every write with a rule behind it. The API, the dashboard, admin actions and
management commands all call these functions: one rule, one place."""

import contextlib
import hashlib
import logging
import os
import re
import shutil
from dataclasses import astuple, dataclass
from datetime import timedelta

import django_rq
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.results import Result as RQResult

from ingest.models import (
    Chunk,
    Document,
    DocumentSource,
    IdempotencyKey,
    IngestFile,
    IngestJob,
    Membership,
    Project,
    Role,
)
from ingest.pipeline import extract
from jobs import lifecycle
from jobs.models import JobStatus
from jobs.runner import work_dir_for

logger = logging.getLogger(__name__)

QUEUE_NAME = "ingest"
SNIFF_BYTES = 4096


class UploadRejected(Exception):
    """An upload refused as a whole. ``code`` picks the HTTP status."""

    def __init__(self, message: str, *, code: str, field: str = "files"):
        super().__init__(message)
        self.message = message
        self.code = code  # "invalid", "too_large" or "unsupported_type"
        self.field = field


class PermissionRefused(Exception):
    """The user's role does not allow this."""


# --- projects ----------------------------------------------------------------


def project_create(*, user, name: str) -> Project:
    """Create a project; its creator becomes its owner."""
    with transaction.atomic():
        project = Project.objects.create(name=name.strip(), created_by=user)
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
    return project


def membership_add(*, actor_membership: Membership, username: str, role: str) -> Membership:
    """An owner adds a user to the project, or changes their role."""
    if actor_membership.role != Role.OWNER:
        raise PermissionRefused("only an owner can add members.")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise UploadRejected(f"no user is called {username!r}.", code="invalid", field="username")
    membership, _ = Membership.objects.update_or_create(
        project=actor_membership.project, user=user, defaults={"role": role}
    )
    return membership


# --- jobs ----------------------------------------------------------------------


@dataclass
class CheckedUpload:
    upload: object  # an UploadedFile
    name: str
    kind: str


def _safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base)[:120] or "file"


def check_uploads(uploads) -> list[CheckedUpload]:
    """Refuse the whole upload unless every file is acceptable (nothing half-created)."""
    if not uploads:
        raise UploadRejected("attach one or more files in the 'files' field.", code="invalid")
    if len(uploads) > settings.INGEST_MAX_FILES:
        raise UploadRejected(
            f"{len(uploads)} files sent; a job takes at most {settings.INGEST_MAX_FILES}.",
            code="invalid",
        )
    total = 0
    checked = []
    for upload in uploads:
        name = upload.name or "file"
        if upload.size == 0:
            raise UploadRejected(f"{name} is empty.", code="invalid")
        if upload.size > settings.INGEST_MAX_FILE_BYTES:
            raise UploadRejected(
                f"{name} is {upload.size} bytes; the limit is "
                f"{settings.INGEST_MAX_FILE_BYTES} bytes per file.",
                code="too_large",
            )
        total += upload.size
        upload.seek(0)
        head = upload.read(SNIFF_BYTES)
        upload.seek(0)
        try:
            kind = extract.detect_kind(name, head)
        except extract.UnsupportedType as exc:
            raise UploadRejected(str(exc), code="unsupported_type") from exc
        checked.append(CheckedUpload(upload=upload, name=name[:255], kind=kind))
    if total > settings.INGEST_MAX_TOTAL_BYTES:
        raise UploadRejected(
            f"the files add up to {total} bytes; a job takes at most "
            f"{settings.INGEST_MAX_TOTAL_BYTES} bytes.",
            code="too_large",
        )
    return checked


def check_chunking(chunk_size: int | None, chunk_overlap: int | None) -> tuple[int, int]:
    size = settings.INGEST_CHUNK_SIZE if chunk_size is None else chunk_size
    if not 50 <= size <= 100_000:
        raise UploadRejected(
            "chunk_size must be between 50 and 100000 characters.",
            code="invalid",
            field="chunk_size",
        )
    default_overlap = min(settings.INGEST_CHUNK_OVERLAP, size // 2)
    overlap = default_overlap if chunk_overlap is None else chunk_overlap
    if not 0 <= overlap <= size // 2:
        raise UploadRejected(
            f"chunk_overlap must be between 0 and half of chunk_size ({size // 2}).",
            code="invalid",
            field="chunk_overlap",
        )
    return size, overlap


def job_create(
    *,
    project: Project,
    user,
    uploads,
    name: str = "",
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
    idempotency_key: str = "",
) -> tuple[IngestJob, bool]:
    """Store the uploads, create the job and enqueue it after commit.

    Returns ``(job, created)``; a repeated idempotency key returns the first
    job with ``created = False`` and stores nothing.
    """
    if idempotency_key and (known := _job_for_key(user, idempotency_key)):
        return known, False
    size, overlap = check_chunking(chunk_size, chunk_overlap)
    checked = check_uploads(uploads)
    stored: list[str] = []
    try:
        with transaction.atomic():
            job = IngestJob.objects.create(
                project=project,
                created_by=user,
                name=(name or _default_name(checked)).strip()[:200],
                chunk_size=size,
                chunk_overlap=overlap,
                items_total=len(checked),
                bytes_total=sum(c.upload.size for c in checked),
            )
            for position, item in enumerate(checked):
                path = _store(job, position, item)
                stored.append(path)
                IngestFile.objects.create(
                    job=job,
                    position=position,
                    name=item.name,
                    size=item.upload.size,
                    content_type=extract.CONTENT_TYPES[item.kind],
                    kind=item.kind,
                    sha256=_sha256(item.upload),
                    storage_path=path,
                )
            if idempotency_key:
                IdempotencyKey.objects.create(user=user, key=idempotency_key[:255], job=job)
            lifecycle.record_created(job, actor=user)
            transaction.on_commit(lambda: job_enqueue(job=job))
    except IntegrityError:
        _remove_stored(stored)
        if idempotency_key and (known := _job_for_key(user, idempotency_key)):
            return known, False  # a concurrent request with the same key won
        raise
    except BaseException:
        _remove_stored(stored)
        raise
    return job, True


def _job_for_key(user, key: str) -> IngestJob | None:
    row = IdempotencyKey.objects.filter(user=user, key=key[:255]).select_related("job").first()
    return row.job if row else None


def _default_name(checked: list[CheckedUpload]) -> str:
    first = checked[0].name
    return first if len(checked) == 1 else f"{first} and {len(checked) - 1} more"


def _store(job: IngestJob, position: int, item: CheckedUpload) -> str:
    item.upload.seek(0)
    path = f"jobs/{job.project_id}/{job.pk}/{position:04d}-{_safe_name(item.name)}"
    return default_storage.save(path, item.upload)


def _sha256(upload) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for block in upload.chunks():
        digest.update(block)
    return digest.hexdigest()


def _remove_stored(paths: list[str]) -> None:
    for path in paths:
        default_storage.delete(path)


def job_enqueue(*, job: IngestJob) -> bool:
    """Put the job on the RQ queue under its own id. A Redis outage is logged,
    not raised: the job stays QUEUED in the database and the reaper enqueues
    it again once Redis is back."""
    try:
        queue = django_rq.get_queue(QUEUE_NAME, commit_mode="auto")
        queue.enqueue(
            "ingest.tasks.run_ingest_job",
            str(job.pk),
            job_id=str(job.pk),
            job_timeout=settings.INGEST_JOB_TIMEOUT_SECONDS,
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
            description=f"ingest {job.name}",
        )
    except RedisError as exc:
        logger.warning("job %s not enqueued (Redis unavailable: %s); the reaper will", job.pk, exc)
        return False
    return True


def job_cancel(*, job: IngestJob, actor=None, reason: str = "") -> lifecycle.Outcome:
    """Cancel a job: a queued one is CANCELLED at once and leaves the queue; a
    running one becomes CANCELLING and its worker stops at the next checkpoint.
    Idempotent for a job already cancelling; a finished job raises
    ``lifecycle.InvalidTransition``."""
    outcome = lifecycle.request_cancel(job, actor=actor, reason=reason)
    if outcome.from_status == JobStatus.QUEUED:
        transaction.on_commit(lambda: remove_from_queue(job_id=str(job.pk)))
    return outcome


def job_delete(
    *, job: IngestJob, actor=None, force: bool = False, reason: str = ""
) -> lifecycle.Outcome:
    """Soft-delete a finished job (status CANCELLED, ``deleted_at`` set, audited).

    An active job raises ``lifecycle.InvalidTransition`` unless ``force``: then
    it is cancelled now and soft-deleted as soon as it is CANCELLED. A job
    deleted meanwhile by someone else gives a falsy outcome.
    """
    if job.is_terminal:
        return lifecycle.soft_delete(job, actor=actor, reason=reason)
    if not force:
        raise lifecycle.InvalidTransition(
            job, "delete", f"job is {job.status}: cancel the job first, or repeat with ?force=true."
        )
    outcome = lifecycle.request_delete(job, actor=actor, reason=reason)
    if outcome.from_status == JobStatus.QUEUED:
        transaction.on_commit(lambda: remove_from_queue(job_id=str(job.pk)))
    return outcome


def remove_from_queue(*, job_id: str) -> None:
    try:
        queue = django_rq.get_queue(QUEUE_NAME)
        queue.remove(job_id)
        RQJob.fetch(job_id, connection=queue.connection).delete(remove_from_queue=True)
    except NoSuchJobError:
        pass
    except RedisError as exc:
        # Harmless: a worker that dequeues it finds the job not QUEUED and returns.
        logger.warning("job %s could not be removed from the queue: %s", job_id, exc)


# --- cleanup, restore, purge ---------------------------------------------------


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
            f"directory ({self.bytes_freed} bytes freed), {self.rq_entries_removed} queue "
            f"entries, {self.documents_removed} document(s) with {self.chunks_removed} chunk(s)."
        )


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
        work_bytes = remove_work_dir(job=job)
        if work_bytes is not None:
            report.work_dirs_removed, report.bytes_freed = 1, report.bytes_freed + work_bytes
        report.rq_entries_removed = remove_rq_entries(job_id=str(job.pk))
        if documents:
            report.documents_removed, report.chunks_removed = _remove_own_documents(job)
        lifecycle.record_action(job, action="cleanup", actor=actor, reason=report.detail)
    logger.info("job %s cleaned up: %s", job.pk, report.detail)
    return report


def _remove_uploads(job: IngestJob) -> tuple[int, int]:
    removed = freed = 0
    for path in job.files.values_list("storage_path", flat=True):
        if path and default_storage.exists(path):
            freed += default_storage.size(path)
            default_storage.delete(path)
            removed += 1
    # The job's upload directory, once empty (local storage only).
    with contextlib.suppress(NotImplementedError, OSError):
        os.rmdir(default_storage.path(f"jobs/{job.project_id}/{job.pk}"))
    return removed, freed


def remove_work_dir(*, job: IngestJob) -> int | None:
    """Remove the job's work directory on this host; its size, or None if absent."""
    path = work_dir_for(job)
    if not path.is_dir():
        return None
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    shutil.rmtree(path, ignore_errors=True)
    return size


def remove_rq_entries(*, job_id: str) -> int:
    """Remove the job from its queue, its registries, and its hash and results."""
    queue = django_rq.get_queue(QUEUE_NAME)
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
    ids = list(own_documents(job).values_list("pk", flat=True))
    if not ids:
        return 0, 0
    _, per_model = Document.objects.filter(pk__in=ids).delete()
    return per_model.get(Document._meta.label, 0), per_model.get(Chunk._meta.label, 0)


def job_restore(*, job: IngestJob, actor=None, reason: str = "") -> lifecycle.Outcome:
    """Undelete a soft-deleted job, giving back the status it had before its
    deletion (from the audit trail; CANCELLED when the trail does not say).

    Refused when its stored uploads were removed: the restored job would claim
    files that no longer exist.
    """
    if not job.is_deleted:
        raise lifecycle.InvalidTransition(job, "restore", "job is not deleted; nothing to restore.")
    missing = [f.name for f in job.files.all() if not default_storage.exists(f.storage_path)]
    if missing:
        raise lifecycle.InvalidTransition(
            job,
            "restore",
            f"its uploaded files were removed ({', '.join(missing[:3])}); it cannot be restored.",
        )
    deletion = lifecycle.events_for(job).filter(action="delete").last()
    previous = deletion.from_status if deletion else JobStatus.CANCELLED
    outcome = lifecycle.restore(job, to_status=previous, actor=actor, reason=reason)
    if not outcome:
        raise lifecycle.InvalidTransition(job, "restore", "job was restored or purged meanwhile.")
    return outcome


def job_purge(*, job: IngestJob) -> bool:
    """Remove a soft-deleted job for good, with its files, work directory and RQ
    entries. Its documents stay (the project's data). False if it was gone already.

    The row goes first, under a lock, so a restore racing with this purge finds
    nothing rather than a job whose files are being removed.
    """
    with transaction.atomic():
        locked = IngestJob.all_objects.select_for_update().filter(pk=job.pk).first()
        if locked is None:
            return False
        if not locked.is_deleted:
            raise lifecycle.InvalidTransition(
                locked, "purge", "job is not deleted; delete it before purging it."
            )
        paths = [p for p in locked.files.values_list("storage_path", flat=True) if p]
        IngestJob.all_objects.filter(pk=locked.pk).purge()
    _remove_stored(paths)
    remove_work_dir(job=locked)
    remove_rq_entries(job_id=str(locked.pk))
    logger.info("job %s purged", locked.pk)
    return True


def deleted_jobs_older_than(*, age: timedelta):
    """Soft-deleted jobs whose deletion is older than ``age``: the purge's candidates."""
    cutoff = timezone.now() - age
    return IngestJob.all_objects.filter(deleted_at__lt=cutoff).order_by("deleted_at")


def purge_deleted_jobs(*, age: timedelta, dry_run: bool = False) -> list[IngestJob]:
    """Purge every job deleted more than ``age`` ago; the list of those purged
    (or, with ``dry_run``, of those that would be)."""
    candidates = list(deleted_jobs_older_than(age=age).select_related("project"))
    if dry_run:
        return candidates
    return [job for job in candidates if job_purge(job=job)]
