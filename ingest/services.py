"""Every write with a rule behind it. The API, the dashboard, admin actions and
management commands all call these functions: one rule, one place."""

import hashlib
import logging
import re
from dataclasses import dataclass

import django_rq
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob

from ingest.models import IdempotencyKey, IngestFile, IngestJob, Membership, Project, Role
from ingest.pipeline import extract
from jobs import lifecycle
from jobs.models import JobStatus

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
