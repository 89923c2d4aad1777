"""What a document's rows store for search, written with the rows themselves.

The worker analyzes the text (``analyzer``) and writes each chunk's
``terms`` (and on PostgreSQL its ``search`` vector) in the same statement
as the chunk, inside the file's transaction: the index is complete when
the file is, so a completed job is searchable, and a cancelled file leaves
no index rows behind, as it leaves no chunks.

On SQLite, triggers (migration 0010) copy ``terms`` into the FTS5 tables
as rows are inserted, and take them out as rows are deleted (a cleanup, a
project's deletion), so every way of writing or deleting rows keeps the
index in step. On PostgreSQL the vector is a column of the row: it goes
with it.

Why the worker and not the database: PostgreSQL's ``to_tsvector`` was 7x
the rest of a job's cost, on the one server every worker shares. Sent in
COPY's binary form, a vector sorted by the worker costs the server a copy;
the GIN index is then the only work left to it (figures in bench/README.md).
"""

import struct
from collections.abc import Iterable, Iterator

from django.db import connection

from ingest.models import Chunk, Document
from ingest.search.analyzer import Indexed

# COPY ... (FORMAT BINARY): the signature, no flags, no header extension.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" * 2
COPY_TRAILER = b"\xff\xff"
COPY_COLUMNS = ("document", "index", "text", "start", "end", "terms", "search")
_ROW = struct.Struct(">hi16si")  # 7 fields; the document's uuid (16 bytes); the index's length
_INT8 = struct.Struct(">iq")  # a length (8), then the int8
_LENGTH = struct.Struct(">i")


def _vector_for_orm(indexed: Indexed) -> str | None:
    return indexed.vector_literal() if connection.vendor == "postgresql" else None


def document_fields(title: str) -> dict:
    """The search fields of a document titled ``title``, for its creation."""
    indexed = Indexed(title)
    return {"terms": indexed.terms.decode(), "search": _vector_for_orm(indexed)}


def chunk(*, document: Document, index: int, text: str, start: int, end: int) -> Chunk:
    """An unsaved chunk with its search fields, for ``bulk_create``."""
    indexed = Indexed(text)
    return Chunk(
        document=document,
        index=index,
        text=text,
        start=start,
        end=end,
        terms=indexed.terms.decode(),
        search=_vector_for_orm(indexed),
    )


def copy_rows(document_id, pieces: Iterable) -> Iterator[bytes]:
    """PostgreSQL: the chunk rows ``pieces`` make (index, text, start, end),
    in COPY's binary form with their terms and vector (COPY_COLUMNS)."""
    document = document_id.bytes
    for piece in pieces:
        indexed = Indexed(piece.text)
        text = piece.text.encode("utf-8")
        yield b"".join(
            (
                _ROW.pack(len(COPY_COLUMNS), 16, document, 4),
                piece.index.to_bytes(4, "big"),
                _LENGTH.pack(len(text)),
                text,
                _INT8.pack(8, piece.start),
                _INT8.pack(8, piece.end),
                _LENGTH.pack(len(indexed.terms)),
                indexed.terms,
                _LENGTH.pack(len(indexed.vector)),
                indexed.vector,
            )
        )
