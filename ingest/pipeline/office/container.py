"""What a zip container holds (Word, PowerPoint, Excel, EPUB or none of them),
and the checks every Office and EPUB extractor makes before a library reads it."""

import functools
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO
from xml.etree import ElementTree

from ingest.pipeline.blocks import EXTRACT_READ_BYTES
from ingest.pipeline.errors import ExtractionError

CONTENT_TYPES_PART = "[Content_Types].xml"
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# A password-protected Office file is an OLE compound file holding this stream.
ENCRYPTION_STREAM = "EncryptionInfo".encode("utf-16-le")
# What one container's parts may expand to. The libraries read whole parts
# into memory, so a small zip that inflates to gigabytes is refused up front.
MAX_EXPANDED_BYTES = 1024 * 1024 * 1024
CONTENT_TYPES_READ_LIMIT = 1024 * 1024

_OPENXML = "application/vnd.openxmlformats-officedocument."
MAIN_CONTENT_TYPES = {
    _OPENXML + "wordprocessingml.document.main+xml": "docx",
    _OPENXML + "wordprocessingml.template.main+xml": "docx",
    "application/vnd.ms-word.document.macroEnabled.main+xml": "docx",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml": "docx",
    _OPENXML + "presentationml.presentation.main+xml": "pptx",
    _OPENXML + "presentationml.slideshow.main+xml": "pptx",
    _OPENXML + "presentationml.template.main+xml": "pptx",
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": "pptx",
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml": "pptx",
    "application/vnd.ms-powerpoint.template.macroEnabled.main+xml": "pptx",
    _OPENXML + "spreadsheetml.sheet.main+xml": "xlsx",
    _OPENXML + "spreadsheetml.template.main+xml": "xlsx",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": "xlsx",
    "application/vnd.ms-excel.template.macroEnabled.main+xml": "xlsx",
}
# When [Content_Types].xml is missing or unreadable, the main part's usual
# name still says what the file meant to be, so its extractor can tell the
# user it is damaged instead of the file being unpacked as an archive.
MAIN_PART_NAMES = {
    "word/document.xml": "docx",
    "ppt/presentation.xml": "pptx",
    "xl/workbook.xml": "xlsx",
}
EPUB_MIMETYPE = b"application/epub+zip"
LABELS = {
    "docx": "Word document",
    "pptx": "PowerPoint presentation",
    "xlsx": "Excel workbook",
    "epub": "EPUB book",
}
LEGACY_EXTENSIONS = {"docx": ".doc", "pptx": ".ppt", "xlsx": ".xls"}

# What damaged input raises inside zipfile, zlib, the XML parsers and the
# Office libraries (a missing part is a KeyError, a wrong attribute value a
# ValueError or TypeError, a truncated member an EOFError...). Named one by
# one, never Exception, and a checkpoint's exception is carried past them.
DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    AttributeError,
    SyntaxError,  # xml.etree's ParseError and lxml's XMLSyntaxError
    NotImplementedError,  # a compression method zipfile lacks
    RuntimeError,  # an encrypted zip member; RecursionError
)


def container_kind(zf: zipfile.ZipFile) -> str | None:
    """ "docx", "pptx", "xlsx" or "epub" for an Office or EPUB container, else None."""
    names = {name.lower(): name for name in zf.namelist()}
    if "mimetype" in names and _read_head(zf, names["mimetype"], 64).strip() == EPUB_MIMETYPE:
        return "epub"
    if CONTENT_TYPES_PART.lower() in names:
        kind = _kind_from_content_types(zf, names[CONTENT_TYPES_PART.lower()])
        if kind:
            return kind
    for part, kind in MAIN_PART_NAMES.items():
        if part in names:
            return kind
    return None


def _read_head(zf: zipfile.ZipFile, name: str, size: int) -> bytes:
    try:
        with zf.open(name) as member:
            return member.read(size)
    except (*DAMAGED, OSError):
        return b""


def _kind_from_content_types(zf: zipfile.ZipFile, name: str) -> str | None:
    # A pull parser fed block by block: the part is small in real files, and
    # a crafted huge one is not read past CONTENT_TYPES_READ_LIMIT.
    parser = ElementTree.XMLPullParser(events=("start",))
    try:
        with zf.open(name) as member:
            for _ in range(CONTENT_TYPES_READ_LIMIT // EXTRACT_READ_BYTES):
                block = member.read(EXTRACT_READ_BYTES)
                if not block:
                    break
                parser.feed(block)
                for _event, element in parser.read_events():
                    kind = MAIN_CONTENT_TYPES.get(element.get("ContentType", ""))
                    if kind:
                        return kind
    except (*DAMAGED, OSError):
        return None
    return None


def open_container(raw: BinaryIO, kind: str) -> zipfile.ZipFile:
    """The file's zip container once it is known to be a readable ``kind``;
    ``raw`` is left at its start for a library to read it again."""
    label = LABELS[kind]
    raw.seek(0)
    head = raw.read(len(OLE_SIGNATURE))
    raw.seek(0)
    if head == OLE_SIGNATURE:
        raise _ole_error(raw, kind)
    try:
        zf = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise ExtractionError(
            f"the {label} is damaged or incomplete: its zip container cannot be opened ({exc}). "
            "Save it again from its application and send it again."
        ) from exc
    found = container_kind(zf)
    if found != kind:
        zf.close()
        what = _with_article(LABELS[found]) if found else "a zip archive"
        raise ExtractionError(f"the file is {what}, not {_with_article(label)}.")
    expanded = sum(info.file_size for info in zf.infolist())
    if expanded > MAX_EXPANDED_BYTES:
        zf.close()
        raise ExtractionError(
            f"the {label} would expand to {expanded // 2**20} MiB, over the "
            f"{MAX_EXPANDED_BYTES // 2**20} MiB one document may take."
        )
    raw.seek(0)
    return zf


def _with_article(label: str) -> str:
    return f"an {label}" if label[0] in "AEIOU" else f"a {label}"


def _ole_error(raw: BinaryIO, kind: str) -> ExtractionError:
    label = LABELS[kind]
    if _contains(raw, ENCRYPTION_STREAM):
        return ExtractionError(
            f"the {label} is protected by a password; save it without the password "
            "and send it again."
        )
    return ExtractionError(
        f"the file is in the old binary Office format ({LEGACY_EXTENSIONS.get(kind, '.doc')}), "
        f"which is not supported; save it as .{kind} and send it again."
    )


def _contains(raw: BinaryIO, needle: bytes) -> bool:
    tail = b""
    while block := raw.read(EXTRACT_READ_BYTES):
        if needle in tail + block:
            raw.seek(0)
            return True
        tail = block[-len(needle) :]
    raw.seek(0)
    return False


class _FromCheckpoint(BaseException):
    """Carries whatever the checkpoint raised past the damage handler."""

    def __init__(self, exc: BaseException):
        super().__init__()
        self.exc = exc


def converts_damage(what: str):
    """Makes an extractor raise ExtractionError, with a sentence, for damaged input.

    The checkpoint handed to the extractor is wrapped so that its exception
    (a cancel, or a database error) passes through untouched whatever its
    type: DAMAGED is broad (ValueError, RuntimeError...), and a cancel must
    never be reported as a damaged file.
    """

    def decorate(extractor: Callable[..., Iterator[str]]):
        @functools.wraps(extractor)
        def extract(raw: BinaryIO, *, checkpoint: Callable[[], None]) -> Iterator[str]:
            def carried_checkpoint() -> None:
                try:
                    checkpoint()
                except BaseException as exc:
                    raise _FromCheckpoint(exc) from None

            passed = None
            try:
                yield from extractor(raw, checkpoint=carried_checkpoint)
            except _FromCheckpoint as carrier:
                passed = carrier.exc
            except ExtractionError:
                raise
            except DAMAGED as exc:
                raise ExtractionError(
                    f"the {what} could not be read; it is damaged or incomplete ({exc!r}). "
                    "Open it in its application, save it again and send it again."
                ) from exc
            if passed is not None:
                # Raised here, outside the handler, so it gains no __context__.
                raise passed

        return extract

    return decorate
