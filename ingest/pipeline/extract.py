"""File types: recognising them by content, and streaming their text out.

Every extractor is a generator of text fragments read from a binary file
object, so a large file is never whole in memory (JSON is the exception: it
is parsed whole, and bounded by INGEST_MAX_FILE_BYTES).
"""

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import BinaryIO

BLOCK = 64 * 1024

TEXT_EXTENSIONS = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
    ".json": "json",
}
BINARY_SIGNATURES = {"pdf": (b"%PDF-",), "zip": (b"PK\x03\x04", b"PK\x05\x06")}
BINARY_EXTENSIONS = {".pdf": "pdf", ".zip": "zip"}
SUPPORTED = "txt, md, html, csv, json, pdf, or a zip of those"
CONTENT_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "csv": "text/csv",
    "json": "application/json",
    "pdf": "application/pdf",
    "zip": "application/zip",
}


class UnsupportedType(ValueError):
    """The content is not a type we ingest. The message says why."""


class ExtractionError(ValueError):
    """The file is of a supported type but could not be read."""


def extension(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def detect_kind(name: str, head: bytes) -> str:
    """The file's kind judged by its first bytes, with its extension as a hint."""
    ext = extension(name)
    for kind, signatures in BINARY_SIGNATURES.items():
        if head.startswith(signatures):
            return kind
    if ext in BINARY_EXTENSIONS:
        raise UnsupportedType(f"{name} is named {ext} but its content is not a {ext[1:]} file.")
    if ext and ext not in TEXT_EXTENSIONS:
        raise UnsupportedType(f"{name}: type {ext} is not supported; send {SUPPORTED}.")
    if not looks_like_text(head):
        raise UnsupportedType(f"{name} is not UTF-8 text; send {SUPPORTED}.")
    return TEXT_EXTENSIONS.get(ext, "txt")


def looks_like_text(head: bytes) -> bool:
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    return True


def text_stream(raw: BinaryIO, *, newline: str | None = None) -> io.TextIOWrapper:
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    encoding = "utf-16" if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    return io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline=newline)


def extract_plain(raw: BinaryIO) -> Iterator[str]:
    stream = text_stream(raw)
    while block := stream.read(BLOCK):
        yield block


def extract_csv(raw: BinaryIO) -> Iterator[str]:
    try:
        for row in csv.reader(text_stream(raw, newline="")):
            yield ", ".join(cell.strip() for cell in row) + "\n"
    except csv.Error as exc:
        raise ExtractionError(f"the CSV is malformed: {exc}") from exc


def extract_json(raw: BinaryIO) -> Iterator[str]:
    try:
        data = json.load(text_stream(raw))
    except (ValueError, RecursionError) as exc:
        # Besides JSONDecodeError: an integer too long to convert is a
        # ValueError, nesting deeper than the parser's stack a RecursionError.
        raise ExtractionError(f"the JSON is malformed: {exc}") from exc
    yield from _json_lines(data)


def _json_lines(data) -> Iterator[str]:
    # Depth first with an explicit stack: nesting the parser accepted must not
    # hit the recursion limit here.
    stack = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            items = [(item, f"{path}.{key}" if path else str(key)) for key, item in value.items()]
            stack.extend(reversed(items))
        elif isinstance(value, list):
            stack.extend((item, path) for item in reversed(value))
        elif value is not None:
            yield f"{path}: {value}\n" if path else f"{value}\n"


class _VisibleText(HTMLParser):
    """Collects the text a browser would show: no scripts, styles or head.

    ``</head>`` is optional in HTML: like a browser, the head ends at
    ``<body>`` or at the first tag that cannot be in a head.
    """

    HIDDEN = frozenset({"script", "style", "noscript", "template", "svg"})
    HEAD_CONTENT = frozenset(
        {"title", "meta", "link", "base", "style", "script", "noscript", "template"}
    )
    BLOCKS = frozenset(
        [
            "p",
            "div",
            "br",
            "li",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "section",
            "article",
            "header",
            "footer",
            "pre",
            "table",
            "ul",
            "ol",
            "blockquote",
            "title",
            "dt",
            "dd",
            "hr",
        ]
    )

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden_depth = 0
        self.in_head = False
        self.out: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self.in_head = True
            return
        if self.in_head and tag not in self.HEAD_CONTENT:
            self.in_head = False
        if tag in self.HIDDEN:
            self.hidden_depth += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag == "head":
            self.in_head = False
        elif tag in self.HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.hidden_depth and not self.in_head:
            self.out.append(data)


def extract_html(raw: BinaryIO) -> Iterator[str]:
    parser = _VisibleText()
    stream = text_stream(raw)
    while True:
        block = stream.read(BLOCK)
        if block:
            parser.feed(block)
        else:
            parser.close()
        yield from parser.out
        parser.out.clear()
        if not block:
            return


def extract_pdf(raw: BinaryIO, *, between_pages: Callable[[], None]) -> Iterator[str]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf reports damage with many exception types besides its own (a
    # dictionary that is a number gives AttributeError, a bad index
    # IndexError...). Named one by one, not as Exception, so that a cancel
    # raised by a checkpoint while pypdf reads still passes through.
    damaged = (PyPdfError, ValueError, LookupError, TypeError, AttributeError, RecursionError)
    try:
        reader = PdfReader(raw)
        # Owner-password-only PDFs (print or copy restrictions) open with "".
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("the PDF is encrypted; send it without a password.")
        for page in reader.pages:
            between_pages()
            yield (page.extract_text() or "") + "\n\n"
    except damaged as exc:
        if isinstance(exc, ExtractionError):
            raise
        raise ExtractionError(f"the PDF could not be read ({exc}).") from exc


def extract(kind: str, raw: BinaryIO, *, checkpoint: Callable[[], None]) -> Iterator[str]:
    if kind in ("txt", "md"):
        return extract_plain(raw)
    if kind == "csv":
        return extract_csv(raw)
    if kind == "json":
        return extract_json(raw)
    if kind == "html":
        return extract_html(raw)
    if kind == "pdf":
        return extract_pdf(raw, between_pages=checkpoint)
    raise UnsupportedType(f"{kind} files cannot be extracted directly; send {SUPPORTED}.")
