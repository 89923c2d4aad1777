"""The reader for each kind of file, and the one call that streams its text out.

Every extractor is a generator of text fragments read from a seekable binary
file, so a large file is never whole in memory. What an extractor learns on
the way (the encoding of a text, the page count of a PDF, a table's
delimiter) goes into ``info``, which the pipeline keeps in the file's result.

Kind detection lives in ``kinds``, the readers in ``text_formats``, ``html``,
``pdf`` and ``office``; the names other modules use are re-exported here.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ingest.pipeline import encodings, html, office, text_formats
from ingest.pipeline.errors import ExtractionError, UnsupportedType
from ingest.pipeline.kinds import (
    ACCEPT,
    BINARY_EXTENSIONS,
    CONTENT_TYPES,
    SNIFF_BYTES,
    SUPPORTED,
    TEXT_EXTENSIONS,
    detect_file_kind,
    detect_kind,
    extension,
)

__all__ = [
    "ACCEPT",
    "BINARY_EXTENSIONS",
    "CONTENT_TYPES",
    "SNIFF_BYTES",
    "SUPPORTED",
    "TEXT_EXTENSIONS",
    "ExtractionError",
    "UnsupportedType",
    "detect_file_kind",
    "detect_kind",
    "extension",
    "extract",
]

TEXT_READERS = {
    "txt": text_formats.extract_plain,
    "md": text_formats.extract_plain,
    "csv": text_formats.extract_csv,
    "tsv": lambda raw, encoding, info: text_formats.extract_csv(raw, encoding, info, default="\t"),
    "json": text_formats.extract_json,
    "jsonl": text_formats.extract_jsonl,
    "xml": text_formats.extract_xml,
    "html": html.extract_html,
}
OFFICE_READERS = ("docx", "pptx", "xlsx", "epub", "eml")


def extract(
    kind: str,
    raw: BinaryIO,
    *,
    checkpoint: Callable[[], None],
    info: dict | None = None,
    path: Path | None = None,
    progress: Callable[[float], None] | None = None,
) -> Iterator[str]:
    """The text of ``raw`` (seekable) read as ``kind``.

    ``path`` is the same file on disk, for readers that do their own I/O
    (PDFium); ``progress`` is told the share done by readers that count in
    pages rather than bytes.
    """
    info = {} if info is None else info
    if kind in TEXT_READERS:
        encoding = text_encoding(kind, raw, path, checkpoint)
        info["encoding"] = encodings.python_name(encoding)
        return TEXT_READERS[kind](raw, encoding, info)
    if kind == "pdf":
        from ingest.pipeline.pdf import extract_pdf

        return extract_pdf(
            path or _spill(raw), checkpoint=checkpoint, info=info, progress=progress or _ignore
        )
    if kind in OFFICE_READERS:
        return getattr(office, f"extract_{kind}")(raw, checkpoint=checkpoint)
    raise UnsupportedType(f"{kind} files cannot be extracted directly; send {SUPPORTED}.")


def text_encoding(kind: str, raw: BinaryIO, path: Path | None, checkpoint) -> str:
    """The encoding to read a text with. Judged on a handle of its own where
    there is a path, so that the pass over the file does not count as
    reading progress."""
    judge = html.html_encoding if kind == "html" else encodings.detect
    if path is None:
        return judge(raw, checkpoint=checkpoint)
    with path.open("rb") as scan:
        return judge(scan, checkpoint=checkpoint)


def _ignore(fraction: float) -> None:
    pass


def _spill(raw: BinaryIO) -> bytes:
    # Without a path (a caller holding only a stream), PDFium is given the
    # bytes: it needs random access that a Python callback would slow down.
    raw.seek(0)
    return raw.read()
