"""The document store: a file's canonical text written as a document and its
chunks, deduplicated within the project, and the file's result recorded.

A file's document, chunks, source and result are written in one
transaction. It checkpoints between batches of chunks, and a cancel there
rolls the whole file back: a file is fully written or not at all.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ingest.models import Chunk, Document, DocumentSource, FileStatus, IngestFile
from ingest.pipeline import canonical
from ingest.search import index

logger = logging.getLogger(__name__)

CHUNK_BATCH = 200  # chunks per INSERT, and a checkpoint between batches
WRITE_ATTEMPTS = 3


@dataclass
class Written:
    status: str
    document: Document
    chunks: int = 0


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
        **index.document_fields(title[:500]),
    )
    count = _write_chunks(document, canonical.path, job, ctx)
    Document.objects.filter(pk=document.pk).update(chunk_count=count)
    document.chunk_count = count
    return Written(FileStatus.DONE, document, count)


def _write_chunks(document, path, job, ctx) -> int:
    pieces = canonical.chunks(path, size=job.chunk_size, overlap=job.chunk_overlap)
    if connection.vendor == "postgresql":
        return _copy_chunks(document, pieces, ctx)
    return _insert_chunks(document, pieces, ctx)


def _copy_chunks(document, pieces, ctx) -> int:
    # COPY streams the rows in one statement, about four times faster than
    # INSERTs built from model instances (bench/pipeline_throughput.py), and
    # chunks are most of what a job writes. It runs in the file's transaction
    # like the INSERTs would, so a cancel still rolls the whole file back.
    # The rows go in COPY's binary form, a batch per write, with each chunk's
    # search vector already sorted by the worker (ingest.search.index): the
    # database takes it as it comes instead of parsing text into it.
    quote = connection.ops.quote_name
    fields = (Chunk._meta.get_field(name) for name in index.COPY_COLUMNS)
    columns = ", ".join(quote(field.column) for field in fields)
    sql = f"COPY {quote(Chunk._meta.db_table)} ({columns}) FROM STDIN (FORMAT BINARY)"
    count, batch = 0, [index.COPY_HEADER]
    # COPY needs psycopg's own cursor; wrap_database_errors turns its errors
    # into Django's, which the runner knows (a dropped connection requeues).
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        try:
            for count, row in enumerate(index.copy_rows(document.pk, pieces), start=1):
                batch.append(row)
                if count % CHUNK_BATCH == 0:
                    copy.write(b"".join(batch))
                    batch.clear()
                    ctx.checkpoint()
        except BaseException:
            _stop_copy(cursor.cursor.connection)
            raise
        batch.append(index.COPY_TRAILER)
        copy.write(b"".join(batch))
    return count


def _stop_copy(psycopg_connection) -> None:
    # Leaving a COPY, psycopg tells the server, which reads that only after
    # the rows still in flight: it wrote and indexed them all first (figures
    # in bench/README.md, Search). A cancel request stops the statement where
    # it is. Its error is the COPY's: the server forgets a pending cancel once
    # the statement failed, so no later statement gets it.
    try:
        psycopg_connection.cancel_safe(timeout=2)
    except Exception:  # the COPY ends anyway, only later
        logger.warning("could not cancel the COPY of an interrupted file", exc_info=True)


def _insert_chunks(document, pieces, ctx) -> int:
    batch, count = [], 0
    for piece in pieces:
        batch.append(
            index.chunk(
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
