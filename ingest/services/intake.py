"""A new job from uploads: every file checked, stored, and the job enqueued after commit.

Nothing half-created is left behind by a refused or failed upload."""

import hashlib
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from ingest.models import (
    IdempotencyKey,
    IngestFile,
    IngestJob,
    Project,
)
from ingest.pipeline import extract
from ingest.services.errors import IdempotencyConflict, UploadRejected
from ingest.services.queue import job_enqueue
from jobs import lifecycle


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
        try:
            kind = extract.detect_file_kind(name, upload)
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
    if idempotency_key and (known := _job_for_key(user, idempotency_key, project)):
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
        remove_stored_files(stored)
        if idempotency_key and (known := _job_for_key(user, idempotency_key, project)):
            return known, False  # a concurrent request with the same key won
        raise
    except BaseException:
        remove_stored_files(stored)
        raise
    return job, True


def _job_for_key(user, key: str, project: Project) -> IngestJob | None:
    """The job a repeated key stands for. A key already spent on another
    project's job, or on a job since deleted, is a conflict: answering with
    that job would show what this project's URL must not."""
    row = IdempotencyKey.objects.filter(user=user, key=key[:255]).select_related("job").first()
    if row is None:
        return None
    if row.job.project_id != project.pk or row.job.deleted_at is not None:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for another job; send a new key."
        )
    return row.job


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


def remove_stored_files(paths: list[str]) -> None:
    for path in paths:
        default_storage.delete(path)
