"""A new job from uploads: every file checked, stored, and the job enqueued after commit.

Nothing half-created is left behind by a refused or failed upload."""

import hashlib
import logging
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from ingest import storage
from ingest.models import (
    IdempotencyKey,
    IngestFile,
    IngestJob,
    Project,
)
from ingest.pipeline import readers
from ingest.services.errors import IdempotencyConflict, IdempotencyMismatch, InvalidInput
from ingest.services.queue import job_enqueue
from jobs import lifecycle

logger = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY = 255  # refused beyond, never cut: two cut keys would be one
JOB_NAME_LENGTH = IngestJob._meta.get_field("name").max_length


@dataclass
class CheckedUpload:
    upload: object  # an UploadedFile
    name: str
    kind: str
    sha256: str = ""


def check_uploads(uploads) -> list[CheckedUpload]:
    """Refuse the whole upload unless every file is acceptable (nothing half-created)."""
    if not uploads:
        raise InvalidInput("attach one or more files.")
    if len(uploads) > settings.INGEST_MAX_FILES:
        raise InvalidInput(
            f"{len(uploads)} files sent; a job takes at most {settings.INGEST_MAX_FILES}.",
            code="invalid",
        )
    total = 0
    checked = []
    for upload in uploads:
        name = check_file_name(upload.name or "file")
        if upload.size == 0:
            raise InvalidInput(f"{name} is empty.", code="invalid")
        if upload.size > settings.INGEST_MAX_FILE_BYTES:
            raise InvalidInput(
                f"{name} is {upload.size} bytes; the limit is "
                f"{settings.INGEST_MAX_FILE_BYTES} bytes per file.",
                code="too_large",
            )
        total += upload.size
        try:
            kind = readers.detect_file_kind(name, upload)
        except readers.UnsupportedType as exc:
            raise InvalidInput(str(exc), code="unsupported_type") from exc
        checked.append(CheckedUpload(upload=upload, name=name[:255], kind=kind))
    if total > settings.INGEST_MAX_TOTAL_BYTES:
        raise InvalidInput(
            f"the files add up to {total} bytes; a job takes at most "
            f"{settings.INGEST_MAX_TOTAL_BYTES} bytes.",
            code="too_large",
        )
    return checked


def check_file_name(name: str) -> str:
    """``name`` if a file can be stored and shown under it; refused otherwise."""
    if any(unicodedata.category(character) == "Cc" for character in name):
        raise InvalidInput(f"{name!r}: a file name cannot hold control characters.")
    if name.replace("\\", "/").rsplit("/", 1)[-1].strip() in ("", ".", ".."):
        raise InvalidInput(f"{name!r} is not a file name: give each file a name of its own.")
    return name


def check_chunking(chunk_size: int | None, chunk_overlap: int | None) -> tuple[int, int]:
    size = settings.INGEST_CHUNK_SIZE if chunk_size is None else chunk_size
    if not 50 <= size <= 100_000:
        raise InvalidInput(field="chunk_size", rule="must be between 50 and 100000 characters.")
    default_overlap = min(settings.INGEST_CHUNK_OVERLAP, size // 2)
    overlap = default_overlap if chunk_overlap is None else chunk_overlap
    if not 0 <= overlap <= size // 2:
        raise InvalidInput(
            field="chunk_overlap",
            rule=f"must be between 0 and {size // 2} characters, half the chunk size.",
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
    check_idempotency_key(idempotency_key)
    if "\x00" in name:
        raise InvalidInput(field="name", rule="cannot hold a NUL character.")
    size, overlap = check_chunking(chunk_size, chunk_overlap)
    checked = check_uploads(uploads)
    for item in checked:
        item.sha256 = _sha256(item.upload)
    job_name = (name or "").strip()[:JOB_NAME_LENGTH] or _default_name(checked)
    request = (job_name, size, overlap, [(c.name, c.upload.size, c.sha256) for c in checked])
    if idempotency_key and (known := _job_for_key(user, idempotency_key, project, request)):
        return known, False
    stored: list[str] = []
    try:
        with transaction.atomic():
            job = IngestJob.objects.create(
                project=project,
                created_by=user,
                name=job_name,
                chunk_size=size,
                chunk_overlap=overlap,
                items_total=len(checked),
                bytes_total=sum(c.upload.size for c in checked),
            )
            files = []
            for position, item in enumerate(checked):
                path = _store(job, position, item)
                stored.append(path)
                files.append(
                    IngestFile(
                        job=job,
                        position=position,
                        name=item.name,
                        size=item.upload.size,
                        content_type=readers.CONTENT_TYPES[item.kind],
                        kind=item.kind,
                        sha256=item.sha256,
                        storage_path=path,
                    )
                )
            # One INSERT for all the files: a job's creation costs the same
            # number of queries whatever its number of files.
            IngestFile.objects.bulk_create(files)
            if idempotency_key:
                IdempotencyKey.objects.create(user=user, key=idempotency_key, job=job)
            lifecycle.record_created(job, actor=user)
            transaction.on_commit(lambda: job_enqueue(job=job))
        for item in checked:
            item.upload.claimed = True  # streamed to the bucket: the job keeps it now
    except IntegrityError:
        _discard(stored)
        if idempotency_key and (known := _job_for_key(user, idempotency_key, project, request)):
            return known, False  # a concurrent request with the same key won
        raise
    except BaseException:
        _discard(stored)
        raise
    return job, True


def check_idempotency_key(key: str) -> None:
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(
            f"the Idempotency-Key header is {len(key)} characters long; "
            f"at most {MAX_IDEMPOTENCY_KEY} are accepted.",
            code="invalid",
            field="Idempotency-Key",
        )


def _job_for_key(user, key: str, project: Project, request: tuple) -> IngestJob | None:
    """The job a repeated key stands for, when the request is the same one.

    A key already spent on another project's job, or on a job since deleted,
    is a conflict: answering with that job would show what this project's URL
    must not. A key sent again with other files or parameters is a mismatch
    (as Stripe answers it): the client reused a key by mistake, and silently
    dropping its new upload would lose data.
    """
    row = IdempotencyKey.objects.filter(user=user, key=key).select_related("job").first()
    if row is None:
        return None
    job = row.job
    if job.project_id != project.pk or job.deleted_at is not None:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for another job; send a new key."
        )
    name, size, overlap, files = request
    first = [(f.name, f.size, f.sha256) for f in job.files.order_by("position")]
    differs = [
        label
        for label, same in [
            ("files", files == first),
            ("name", name == job.name),
            ("chunk_size", size == job.chunk_size),
            ("chunk_overlap", overlap == job.chunk_overlap),
        ]
        if not same
    ]
    if differs:
        raise IdempotencyMismatch(
            f"this Idempotency-Key was used for a request with other {', '.join(differs)} "
            "(names, sizes, content and parameters must all match); send a new key "
            "for a new upload."
        )
    return job


def _default_name(checked: list[CheckedUpload]) -> str:
    """The first file's name (and how many more), shortened to fit: a
    249-character file name ends "…" at a word's end, not cut mid-word."""
    more = f" and {len(checked) - 1} more" if len(checked) > 1 else ""
    return shorten(checked[0].name.strip(), JOB_NAME_LENGTH - len(more)) + more


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, ending in "…" when cut;
    cut at a word's end when one is near (within 24 characters)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    boundary = max(cut.rfind(mark) for mark in " -_.")
    if boundary >= limit - 24:
        cut = cut[:boundary]
    return cut.rstrip(" -_.") + "…"


def _store(job: IngestJob, position: int, item: CheckedUpload) -> str:
    if streamed := getattr(item.upload, "storage_path", ""):
        return streamed  # already in the bucket (ingest.upload_handlers.S3UploadHandler)
    item.upload.seek(0)
    with storage.translated():  # a bucket that cannot be written says so in words
        return default_storage.save(storage.upload_path(job, position, item.name), item.upload)


def _sha256(upload) -> str:
    if known := getattr(upload, "sha256", ""):
        return known  # hashed as it streamed in
    digest = hashlib.sha256()
    upload.seek(0)
    for block in upload.chunks():
        digest.update(block)
    return digest.hexdigest()


def _discard(paths: list[str]) -> None:
    # On the way out of a failed create: a storage outage must not hide the
    # error that got us here (the streamed objects are also removed when the
    # request ends).
    try:
        remove_stored_files(paths)
    except storage.StorageUnavailable as exc:
        logger.warning("stored uploads %s not removed: %s", paths, exc)


def remove_stored_files(paths: list[str]) -> int:
    """Delete stored uploads; how many were really there."""
    return sum(storage.remove(path) is not None for path in paths)
