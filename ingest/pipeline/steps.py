"""The ingest pipeline: for each file of a job, in order,

copy into the work directory -> extract text -> canonicalize -> deduplicate
-> chunk -> write the document and its chunks in one transaction.

This module is the loop over the job's files. Reading a file into canonical
text is ``reading``, files inside files (zip members, attachments) are
``members``, and the one transaction that writes a document is ``store``.
"""

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ingest import storage
from ingest.models import FileStatus, IngestFile, IngestJob
from ingest.pipeline import members, readers
from ingest.pipeline.reading import read_canonical
from ingest.pipeline.store import mark_file, write_document
from jobs.runner import JobContext, JobFailed

logger = logging.getLogger(__name__)


@dataclass
class JobProgress:
    files_done: int = 0
    files_failed: int = 0  # of files_done
    bytes_before: int = 0  # bytes of the files already finished
    per_file: dict = field(default_factory=dict)
    # What the job's files come to once unpacked: each file's size, or for a
    # zip what it expands to. INGEST_MAX_TOTAL_BYTES applies to this sum.
    expanded: int = 0


def ingest(job: IngestJob, ctx: JobContext) -> None:
    """The RQ work for one job. Files already finished (a resumed job) are skipped."""
    files = list(job.files.order_by("position"))
    finished = [f for f in files if f.status != FileStatus.PENDING]
    progress = JobProgress(
        files_done=len(finished),
        files_failed=sum(f.status == FileStatus.FAILED for f in finished),
        bytes_before=sum(f.size for f in finished),
        expanded=members.expanded_so_far(files),
    )
    ctx.progress(
        force=True,
        items_total=len(files),
        bytes_total=sum(f.size for f in files),
        items_done=progress.files_done,
        items_failed=progress.files_failed,
        bytes_done=progress.bytes_before,
    )
    for ingest_file in files:
        if ingest_file.status != FileStatus.PENDING:
            continue
        ctx.checkpoint(force=True)
        process_file(job, ingest_file, ctx, progress)
        progress.files_done += 1
        progress.files_failed += ingest_file.status == FileStatus.FAILED
        progress.bytes_before += ingest_file.size
        ctx.progress(
            items_done=progress.files_done,
            items_failed=progress.files_failed,
            bytes_done=progress.bytes_before,
            force=True,
        )
    ctx.checkpoint(force=True)
    statuses = set(job.files.values_list("status", flat=True))
    if files and statuses == {FileStatus.FAILED}:
        raise JobFailed("every file failed to ingest; see each file's error for the reason.")


def process_file(job: IngestJob, ingest_file: IngestFile, ctx: JobContext, progress) -> None:
    work_dir = ctx.work_dir / f"{ingest_file.position:05d}"
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        local = copy_to_work_dir(ingest_file, work_dir, ctx)
        if ingest_file.kind == "zip":
            members.process_zip(job, ingest_file, local, ctx, progress)
        else:
            process_document(job, ingest_file, local, work_dir, ctx, progress)
    except (readers.UnsupportedType, readers.ExtractionError, OSError) as exc:
        mark_file(ingest_file, status=FileStatus.FAILED, error=str(exc))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    logger.info(
        "file %s %s: %s %s",
        ingest_file.position,
        ingest_file.name,
        ingest_file.status,
        ingest_file.error or f"({ingest_file.chunks} chunks)",
    )


def process_document(job, ingest_file, local: Path, work_dir: Path, ctx, progress) -> None:
    """One file, one document; a message's attachments are documents of their
    own first, so that a resumed job finds them recorded and the file is
    only marked once everything in it is written."""
    if ingest_file.kind == "eml":
        members.process_attachments(job, ingest_file, local, ctx)
    details: dict = {}
    report = _reporter(ctx, progress, ingest_file.size)
    canonical = read_canonical(
        ingest_file.kind,
        local,
        work_dir / "canonical.txt",
        ctx,
        info=details,
        on_read=report,
        on_share=lambda share: report(int(ingest_file.size * share)),
    )
    chunks = members.chunks_of_members(ingest_file)
    write_document(
        job,
        ingest_file,
        canonical,
        ctx,
        title=ingest_file.name,
        record=lambda w: mark_file(
            ingest_file, status=w.status, chunks=w.chunks + chunks, details=details
        ),
    )


def _reporter(ctx: JobContext, progress: JobProgress, size: int):
    def on_read(count: int) -> None:
        # The last read is always written: a file whose bytes are all read is
        # then visibly in its write phase, not stuck a few percent short.
        done = min(count, size)
        ctx.progress(bytes_done=progress.bytes_before + done, force=done == size)
        ctx.checkpoint()

    return on_read


def copy_to_work_dir(ingest_file: IngestFile, work_dir: Path, ctx: JobContext) -> Path:
    # Block by block with a checkpoint each, so a cancel is not held up by
    # copying a large file from shared storage or the bucket.
    local = work_dir / "source"
    try:
        storage.download(ingest_file.storage_path, local, ctx.checkpoint)
    except FileNotFoundError as exc:
        raise readers.ExtractionError(
            "the uploaded file is no longer in storage (was the job cleaned up?)."
        ) from exc
    except storage.StorageUnavailable as exc:
        # Not this file's fault, and every file after it would fail the same
        # way: the job stops FAILED with its finished files kept, and a retry
        # picks up the rest once the storage answers again.
        raise JobFailed(
            f"the uploads could not be read: {exc.message} Retry the job once it is fixed."
        ) from exc
    return local
