"""The ingest pipeline: for each file of a job, in order,

copy into the work directory -> extract text -> canonicalize -> deduplicate
-> chunk -> write the document and its chunks in one transaction.

The long parts (copying, extracting, canonicalizing) run outside any
transaction and call ``checkpoint()`` as they read, so a cancel is noticed
within ~50 ms whatever the file's size. Only the final write is a
transaction; it checkpoints between batches of chunks, and a cancel there
rolls the whole file back: a file is fully written or not at all.
"""

import io
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ingest import storage
from ingest.models import Chunk, Document, DocumentSource, FileStatus, IngestFile, IngestJob
from ingest.pipeline import extract, members, text
from jobs.runner import JobContext, JobFailed

logger = logging.getLogger(__name__)

CHUNK_BATCH = 200  # chunks per INSERT, and a checkpoint between batches
CHUNK_FIELDS = ("document", "index", "text", "start", "end")
WRITE_ATTEMPTS = 3
COPY_BLOCK = 1024 * 1024
# What the extractors read between two checkpoint() calls: about 3 ms of
# canonicalizing. With a megabyte it was some 50 ms, which a cancel waited on
# top of checkpoint()'s own 50 ms between database reads.
READ_BLOCK = 64 * 1024


class ProgressReader(io.RawIOBase):
    """A file reader that reports how far it has read and checkpoints as it goes.

    Seekable, as the file it reads: readers that look ahead (a table's
    delimiter, a zip's directory) or rewind need it, and a non-seekable
    reader is what once made every PDF fail. The position reported is the
    furthest reached, so a rewind does not move progress backwards.
    """

    def __init__(self, source, on_read: Callable[[int], None]):
        self._source = source
        self._on_read = on_read
        self.count = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=os.SEEK_SET):
        return self._source.seek(offset, whence)

    def tell(self):
        return self._source.tell()

    def readinto(self, buffer):
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self.count = max(self.count, self._source.tell())
        self._on_read(self.count)
        return len(data)


@dataclass
class Written:
    status: str
    document: Document
    chunks: int = 0


@dataclass
class JobProgress:
    files_done: int = 0
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
        bytes_before=sum(f.size for f in finished),
        expanded=members.expanded_so_far(files),
    )
    ctx.progress(
        force=True,
        items_total=len(files),
        bytes_total=sum(f.size for f in files),
        items_done=progress.files_done,
        bytes_done=progress.bytes_before,
    )
    for ingest_file in files:
        if ingest_file.status != FileStatus.PENDING:
            continue
        ctx.checkpoint(force=True)
        process_file(job, ingest_file, ctx, progress)
        progress.files_done += 1
        progress.bytes_before += ingest_file.size
        ctx.progress(items_done=progress.files_done, bytes_done=progress.bytes_before, force=True)
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
    except (extract.UnsupportedType, extract.ExtractionError, OSError) as exc:
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
    chunks = sum(m["chunks"] for m in ingest_file.members)
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
        raise extract.ExtractionError(
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


def read_canonical(
    kind: str, local: Path, path: Path, ctx: JobContext, *, info: dict, on_read, on_share=None
) -> text.CanonicalText:
    """The file's text, extracted and canonicalized into ``path``."""
    with local.open("rb") as raw:
        reader = io.BufferedReader(ProgressReader(raw, on_read), READ_BLOCK)
        fragments = extract.extract(
            kind, reader, checkpoint=ctx.checkpoint, info=info, path=local, progress=on_share
        )
        canonical = text.canonicalize(fragments, path)
    if not canonical.length:
        raise extract.ExtractionError("no text could be extracted from it; the file is empty.")
    return canonical


def write_document(job, ingest_file, canonical, ctx, *, title, record, member="") -> Written:
    """Deduplicate, then write the document, its chunks, its source and the
    file's result (``record``) in one transaction: all of it or none."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            # Interruptible: a cancel stops the write even while it waits on
            # the database (see JobContext.interruptible), and rolls it back.
            with ctx.interruptible(), transaction.atomic():
                written = _write_or_reuse(job, ingest_file, canonical, ctx, title=title)
                DocumentSource.objects.create(
                    document=written.document, file=ingest_file, member=member
                )
                record(written)
                return written
        except IntegrityError:
            # Between our read and our commit another job wrote the same text
            # (the next attempt reuses its document), or a cleanup removed the
            # document we were reusing (the next attempt writes it afresh).
            if attempt == WRITE_ATTEMPTS:
                raise
            logger.info("file %s: document changed meanwhile; writing again", ingest_file.name)
    raise AssertionError("unreachable")


def _write_or_reuse(job, ingest_file, canonical, ctx, *, title) -> Written:
    existing = Document.objects.filter(project_id=job.project_id, sha256=canonical.sha256).first()
    if existing:
        return Written(FileStatus.DUPLICATE, existing, existing.chunk_count)
    document = Document.objects.create(
        project_id=job.project_id,
        title=title[:500],
        sha256=canonical.sha256,
        size=canonical.length,
        source_file=ingest_file,
        job=job,
        origin_job_id=job.pk,
        origin_job_name=job.name,
        origin_file_id=ingest_file.pk,
        origin_file_name=ingest_file.name,
    )
    count = _write_chunks(document, canonical.path, job, ctx)
    Document.objects.filter(pk=document.pk).update(chunk_count=count)
    document.chunk_count = count
    return Written(FileStatus.DONE, document, count)


def _write_chunks(document, path, job, ctx) -> int:
    pieces = text.chunks(path, size=job.chunk_size, overlap=job.chunk_overlap)
    if connection.vendor == "postgresql":
        return _copy_chunks(document, pieces, ctx)
    return _insert_chunks(document, pieces, ctx)


def _copy_chunks(document, pieces, ctx) -> int:
    # COPY streams the rows in one statement, about four times faster than
    # INSERTs built from model instances (bench/pipeline_throughput.py), and
    # chunks are most of what a job writes. It runs in the file's transaction
    # like the INSERTs would, so a cancel still rolls the whole file back.
    # The rows are written in COPY's text format, a batch per write: psycopg's
    # write_row() formats each value in Python and was, once the text was
    # canonicalized block-wise, the largest cost left on the worker's side.
    quote = connection.ops.quote_name
    columns = ", ".join(quote(Chunk._meta.get_field(name).column) for name in CHUNK_FIELDS)
    sql = f"COPY {quote(Chunk._meta.db_table)} ({columns}) FROM STDIN"
    count, batch, row_start = 0, [], f"{document.pk}\t"
    # COPY needs psycopg's own cursor; wrap_database_errors turns its errors
    # into Django's, which the runner knows (a dropped connection requeues).
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        for count, piece in enumerate(pieces, start=1):
            batch.append(
                f"{row_start}{piece.index}\t{_copy_escape(piece.text)}\t{piece.start}\t{piece.end}\n"
            )
            if count % CHUNK_BATCH == 0:
                copy.write("".join(batch))
                batch.clear()
                ctx.checkpoint()
        if batch:
            copy.write("".join(batch))
    return count


def _copy_escape(value: str) -> str:
    # COPY's text format: backslash, and the characters that end a value or a row.
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    for char, escaped in (("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r")):
        if char in value:
            value = value.replace(char, escaped)
    return value


def _insert_chunks(document, pieces, ctx) -> int:
    batch, count = [], 0
    for piece in pieces:
        batch.append(
            Chunk(
                document=document,
                index=piece.index,
                text=piece.text,
                start=piece.start,
                end=piece.end,
            )
        )
        if len(batch) >= CHUNK_BATCH:
            Chunk.objects.bulk_create(batch)
            count += len(batch)
            batch = []
            ctx.checkpoint()
    Chunk.objects.bulk_create(batch)
    return count + len(batch)


def mark_file(
    ingest_file: IngestFile,
    *,
    status: str,
    chunks: int = 0,
    error: str = "",
    details: dict | None = None,
) -> None:
    details = {**ingest_file.details, **(details or {})}
    IngestFile.objects.filter(pk=ingest_file.pk).update(
        status=status, chunks=chunks, error=error, details=details, finished_at=timezone.now()
    )
    ingest_file.status, ingest_file.chunks, ingest_file.error = status, chunks, error
    ingest_file.details = details
