"""What kind a file is: judged by its content first, by its name second.

A zip container is looked into before it is taken for an archive (Office
files and EPUBs are zips that must be read as documents); text is whatever
decodes as text in a common encoding, whatever its name (``LICENSE``,
``.rst``, ``.log``...); an OLE compound file (a legacy .doc/.xls/.ppt, or an
Office file saved with a password) is refused with a sentence saying so.
"""

import re
import zipfile
from pathlib import PurePosixPath
from typing import BinaryIO

from ingest.pipeline import encodings
from ingest.pipeline.errors import UnsupportedType
from ingest.pipeline.office.container import container_kind

SNIFF_BYTES = 4096  # enough of a file's head to judge its type by content

# Names that hint at a kind when the content is text; text of any other name
# (or none) is plain text.
TEXT_EXTENSIONS = {
    ".txt": "txt",
    ".text": "txt",
    ".rst": "txt",
    ".org": "txt",
    ".log": "txt",
    ".adoc": "txt",
    ".tex": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".eml": "eml",
    ".xml": "xml",
    # Flat OpenDocument files are XML: their text is read, not their markup.
    ".fodt": "xml",
    ".fods": "xml",
    ".fodp": "xml",
}
BINARY_EXTENSIONS = {
    ".pdf": "pdf",
    ".zip": "zip",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".epub": "epub",
}
CONTAINER_KINDS = ("docx", "pptx", "xlsx", "epub")
CONTAINER_EXTS = {f".{kind}" for kind in CONTAINER_KINDS}
SUPPORTED = (
    "text in any common encoding (txt, md, rst, org, log...), html, csv, tsv, json, "
    "jsonl/ndjson, xml, eml, pdf, docx, pptx, xlsx, epub, or a zip of those"
)
CONTENT_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "eml": "message/rfc822",
    "xml": "application/xml",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "epub": "application/epub+zip",
}
# For the upload form's `accept` attribute and the dashboard's own check:
# the names a file picker should offer. Text of any other name is accepted too
# (judged by content), hence text/* beside them.
ACCEPT = ",".join([*sorted({*TEXT_EXTENSIONS, *BINARY_EXTENSIONS}), "text/*"])

# Names that are never text nor a kind we read: the dashboard refuses them
# before sending (the server judges by content anyway).
REFUSED_EXTENSIONS = [
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".bmp",
    ".tif",
    ".tiff",
    ".ico",
    ".heic",
    ".mp3",
    ".mp4",
    ".m4a",
    ".mov",
    ".avi",
    ".mkv",
    ".wav",
    ".exe",
    ".dll",
    ".so",
    ".bin",
    ".iso",
    ".dmg",
    ".7z",
    ".rar",
    ".gz",
    ".tgz",
    ".bz2",
    ".xz",
    ".tar",
    ".doc",
    ".xls",
    ".ppt",
    ".odt",
    ".ods",
    ".odp",
    ".msg",
]

# Formats whose first bytes could pass for a few characters of a legacy
# encoding ("\x89PNG" reads as "‰PNG" in cp1252): known by their magic numbers.
OTHER_SIGNATURES = (
    b"\x89PNG",  # PNG
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"MZ\x90\x00",  # Windows executables
    b"\x7fELF",
    b"\x1f\x8b",  # gzip
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"ID3\x03",  # MP3
    b"ID3\x04",
    b"\x00\x00\x01\x00",  # icons
)

PDF_SIGNATURE = b"%PDF-"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OLE_REFUSAL = (
    "is an OLE compound file: a legacy Word/Excel/PowerPoint document (.doc, .xls, .ppt) "
    "or an Office file protected by a password; save it as .docx, .xlsx or .pptx "
    "without a password and send that."
)
HTML_START = re.compile(rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.I | re.S)
XML_START = re.compile(r"\s*<\?xml[\s?]")
HEADER_LINE = re.compile(r"^[!-9;-~]+:")
MAIL_HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version", "received"}


def extension(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def detect_kind(name: str, head: bytes) -> str:
    """The file's kind judged by its first bytes, with its name as a hint.

    From a head alone a zip is "zip", or docx/pptx/xlsx/epub by its name;
    ``detect_file_kind``, which has the whole file, looks into it."""
    ext = extension(name)
    if head.startswith(PDF_SIGNATURE):
        return "pdf"
    if head.startswith(ZIP_SIGNATURES):
        return BINARY_EXTENSIONS[ext] if ext in CONTAINER_EXTS else "zip"
    if head.startswith(OLE_SIGNATURE):
        raise UnsupportedType(f"{name} {OLE_REFUSAL}")
    encoding = None if head.startswith(OTHER_SIGNATURES) else encodings.sniff(head)
    if encoding is None:
        if ext in BINARY_EXTENSIONS:
            raise UnsupportedType(f"{name} is named {ext} but its content is not a {ext[1:]} file.")
        if ext in TEXT_EXTENSIONS:
            raise UnsupportedType(f"{name} is named {ext} but its content is not text.")
        if ext:
            raise UnsupportedType(f"{name}: type {ext} is not supported; send {SUPPORTED}.")
        raise UnsupportedType(f"{name} is neither text nor a supported kind; send {SUPPORTED}.")
    if ext in BINARY_EXTENSIONS:
        raise UnsupportedType(f"{name} is named {ext} but its content is text, not a {ext[1:]}.")
    return _text_kind(ext, head, encoding)


def _text_kind(ext: str, head: bytes, encoding: str) -> str:
    sample = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    if ext in TEXT_EXTENSIONS and TEXT_EXTENSIONS[ext] != "txt":
        return TEXT_EXTENSIONS[ext]
    if HTML_START.match(sample.encode("utf-8", errors="ignore")):
        return "html"
    if XML_START.match(sample):
        return "xml"
    if looks_like_mail(sample):
        return "eml"
    return TEXT_EXTENSIONS.get(ext, "txt")


def looks_like_mail(sample: str) -> bool:
    """An RFC 822 message: header lines up to the first blank line, among them
    at least two that every mail program writes (From, Date, Subject...)."""
    lines = sample.replace("\r\n", "\n").split("\n")
    if len(lines) < 3:
        return False
    known = 0
    for line in lines[:200]:
        if not line:
            return known >= 2
        if line[0] in " \t":
            continue  # a folded header line
        if not HEADER_LINE.match(line):
            return False
        known += line.split(":", 1)[0].lower() in MAIL_HEADERS
    return False


def detect_file_kind(name: str, raw: BinaryIO) -> str:
    """``detect_kind``, then a zip is looked into: Office and EPUB files are
    zips that are read as documents, never unpacked as archives. ``raw`` must
    be seekable; it is left at its start."""
    raw.seek(0)
    head = raw.read(SNIFF_BYTES)
    raw.seek(0)
    kind = detect_kind(name, head)
    if kind in ("zip", *CONTAINER_KINDS):
        kind = container_kind_of(raw) or "zip"
        raw.seek(0)
    return kind


def container_kind_of(raw: BinaryIO) -> str | None:
    try:
        with zipfile.ZipFile(raw) as archive:
            return container_kind(archive)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError):
        return None  # a damaged zip fails as a zip, with the reason, in the worker
