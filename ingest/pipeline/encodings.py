"""Which encoding a text is in: byte order marks, then UTF-32/16 without a
mark (told by where their zero bytes fall), then UTF-8, then what
charset-normalizer names.

``sniff`` judges a file's head (is it text at all?); ``detect`` judges the
whole file before it is read, so that a Latin-1 file whose first accented
letter comes after megabytes of ASCII is not decoded as UTF-8 with holes.
"""

import codecs
import unicodedata
from collections.abc import Callable
from typing import BinaryIO

from ingest.pipeline.blocks import UTF8_SCAN_BYTES

BOMS = [  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
SAMPLE_BYTES = 256 * 1024  # what charset-normalizer is shown of a legacy text
# Share of characters that may be control characters (other than tab, line
# and page breaks) in something still called text.
MAX_CONTROL_SHARE = 0.01
CP1252_CHAOS_MARGIN = 0.2


def bom_encoding(head: bytes) -> str | None:
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding
    return None


def wide_encoding(head: bytes) -> str | None:
    """UTF-32 or UTF-16 without a mark: most characters of a text are ASCII,
    whose zero bytes fall in fixed places of each code unit."""
    sample = head[: len(head) - len(head) % 4]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    units = len(sample) // 4
    lanes = [sample[i::4].count(0) / units for i in range(4)]
    candidates = []
    if lanes[1] > 0.9 and lanes[2] > 0.9 and lanes[3] > 0.9:
        candidates.append("utf-32-le")
    if lanes[0] > 0.9 and lanes[1] > 0.9 and lanes[2] > 0.9:
        candidates.append("utf-32-be")
    if lanes[1] > 0.5 and lanes[3] > 0.5:
        candidates.append("utf-16-le")
    if lanes[0] > 0.5 and lanes[2] > 0.5:
        candidates.append("utf-16-be")
    for encoding in candidates:
        decoded = _decode_head(sample, encoding)
        if decoded is not None and is_text(decoded):
            return encoding
    return None


def _decode_head(head: bytes, encoding: str) -> str | None:
    try:
        return codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        return None


def is_text(decoded: str) -> bool:
    if not decoded:
        return True
    control = sum(
        1 for c in decoded if c not in "\t\n\r\f\x1b" and unicodedata.category(c) in ("Cc", "Cs")
    )
    return control <= len(decoded) * MAX_CONTROL_SHARE


def sniff(head: bytes) -> str | None:
    """The encoding of a file's first bytes if they are text, else None."""
    if encoding := bom_encoding(head) or wide_encoding(head):
        return encoding
    if b"\x00" in head:
        return None
    decoded = _decode_head(head, "utf-8")
    if decoded is not None:
        return "utf-8" if is_text(decoded) else None
    return legacy_encoding(head)


def legacy_encoding(sample: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        return None
    encoding = best.encoding
    if encoding != "cp1252" and _prefer_cp1252(sample, best):
        encoding = "cp1252"
    return encoding if is_text(sample.decode(encoding, errors="replace")) else None


def _prefer_cp1252(sample: bytes, best) -> bool:
    """Western European text often reads almost as well in a Central or
    Baltic code page ("déjà" as "déją"), and charset-normalizer may rank that
    first. cp1252 is by far the commoner: it is chosen when it decodes the
    sample and reads as coherently, with at most a little more "chaos"."""
    from charset_normalizer import from_bytes

    if _decodes_as(sample, "cp1252") is None:
        return False
    western = from_bytes(sample, cp_isolation=["cp1252"]).best()
    return (
        western is not None
        and western.coherence >= best.coherence
        and western.chaos <= best.chaos + CP1252_CHAOS_MARGIN
    )


def _decodes_as(sample: bytes, encoding: str) -> str | None:
    try:
        return sample.decode(encoding)
    except UnicodeDecodeError:
        return None


def detect(raw: BinaryIO, *, checkpoint: Callable[[], None] = lambda: None) -> str:
    """The encoding to read the whole of ``raw`` with (seekable; left at its start).

    Marks and wide encodings are judged from the head. Otherwise the whole
    file is checked as UTF-8 (about a gigabyte a second); where it is not,
    charset-normalizer is shown its head and the region of the first byte
    UTF-8 refused. Nothing recognisable: UTF-8 with replacement characters.
    """
    raw.seek(0)
    head = raw.read(SAMPLE_BYTES)
    raw.seek(0)
    if encoding := bom_encoding(head) or wide_encoding(head[:4096]):
        return encoding
    bad_at = _first_invalid_utf8(raw, checkpoint)
    raw.seek(0)
    if bad_at is None:
        return "utf-8"
    raw.seek(max(0, bad_at - SAMPLE_BYTES // 4))
    around = raw.read(SAMPLE_BYTES // 2)
    raw.seek(0)
    sample = head if bad_at < len(head) else head[: SAMPLE_BYTES // 2] + b"\n" + around
    return legacy_encoding(sample) or "utf-8"


def _first_invalid_utf8(raw: BinaryIO, checkpoint: Callable[[], None]) -> int | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    while block := raw.read(UTF8_SCAN_BYTES):
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            return offset + max(exc.start, 0)
        offset += len(block)
        checkpoint()
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return max(0, offset - 4)
    return None


def python_name(encoding: str) -> str:
    """The codec's canonical name, as recorded in a file's result."""
    return codecs.lookup(encoding).name
