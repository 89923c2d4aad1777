"""E-mail (.eml, RFC 5322): the Subject, From, To, Cc and Date lines, then the
body as text (the plain part, else the HTML part's visible text), with
charsets and encoded headers decoded; attachments are handed out apart."""

import codecs
import email
import mimetypes
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import PurePosixPath
from typing import BinaryIO

from ingest.pipeline import encodings
from ingest.pipeline.blocks import TEXT_FRAGMENT_CHARS
from ingest.pipeline.errors import ExtractionError
from ingest.pipeline.html import _VisibleText
from ingest.pipeline.office.container import DAMAGED, converts_damage

HEADERS = ("Subject", "From", "To", "Cc", "Date")
HEAD_BYTES = 4096  # enough to tell a wide encoding by its zero bytes
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    payload: bytes


@converts_damage("e-mail message")
def extract_eml(raw: BinaryIO, *, checkpoint: Callable[[], None]) -> Iterator[str]:
    message = _parse(raw)
    checkpoint()
    if not message.keys():
        raise ExtractionError(
            "the file has no e-mail headers (From, To, Subject...); it is not an e-mail message."
        )
    for name in HEADERS:
        value = _header(message, name)
        if value:
            yield f"{name}: {value}\n"
    yield "\n"
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return
    text = _text(body)
    if body.get_content_subtype() != "html":
        yield text
        return
    parser = _VisibleText()
    for start in range(0, len(text), TEXT_FRAGMENT_CHARS):
        checkpoint()
        parser.feed(text[start : start + TEXT_FRAGMENT_CHARS])
        yield from parser.out
        parser.out.clear()
    parser.close()
    yield from parser.out


def eml_attachments(raw: BinaryIO) -> Iterator[Attachment]:
    """Each attachment of the message, an attached message included (as .eml)."""
    message = _parse(raw)
    body = message.get_body(preferencelist=("plain", "html"))
    for number, part in enumerate(_attached_parts(message, body), start=1):
        name, content_type = _file_name(part, number), part.get_content_type()
        try:
            if content_type == "message/rfc822":
                payload = part.get_payload(0).as_bytes()
            else:
                payload = part.get_payload(decode=True) or b""
        except DAMAGED as exc:
            raise ExtractionError(
                f"the e-mail's attachment {name} could not be decoded ({exc!r})."
            ) from exc
        yield Attachment(name, content_type, payload)


def _parse(raw: BinaryIO) -> EmailMessage:
    """The message, parsed from its bytes. A message saved in UTF-16 or
    UTF-32 (with or without a byte order mark) is decoded first: its
    headers are text only once decoded, and the parser reads bytes as
    ASCII. A UTF-8 byte order mark is skipped for the same reason."""
    raw.seek(0)
    head = raw.read(HEAD_BYTES)
    raw.seek(0)
    encoding = encodings.bom_encoding(head) or encodings.wide_encoding(head)
    if encoding is None:
        return email.message_from_binary_file(raw, policy=default_policy)
    if encoding == "utf-8-sig":
        raw.seek(len(codecs.BOM_UTF8))
        return email.message_from_binary_file(raw, policy=default_policy)
    text = raw.read().decode(encoding, errors="replace")
    return email.message_from_bytes(text.encode("utf-8", errors="replace"), policy=default_policy)


def _header(message: EmailMessage, name: str) -> str:
    try:
        values = [str(value) for value in message.get_all(name, [])]
    except (ValueError, IndexError, TypeError, AttributeError, LookupError):
        # The header parser of the email package fails on some malformed
        # addresses; the raw value with its encoded words decoded will do.
        values = [
            _decoded(value) for key, value in message.raw_items() if key.lower() == name.lower()
        ]
    return ", ".join(" ".join(value.split()) for value in values if value.strip())


def _decoded(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _text(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except LookupError:
        # A charset Python does not know: UTF-8, what most such mail is.
        return (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")


def _attached_parts(part: EmailMessage, body) -> Iterator[EmailMessage]:
    # Not message.walk(): it would go inside an attached message, whose own
    # parts belong to that message.
    if part.get_content_maintype() == "multipart":
        for subpart in part.iter_parts():
            yield from _attached_parts(subpart, body)
    elif part is not body and (
        part.get_content_type() == "message/rfc822"
        or part.get_content_disposition() == "attachment"
        or part.get_filename()
    ):
        yield part


def _file_name(part: EmailMessage, number: int) -> str:
    """The attachment's own name, decoded, without any directory in it."""
    try:
        name = part.get_filename() or ""
    except (ValueError, IndexError, TypeError, LookupError):
        name = ""
    name = _CONTROL.sub("", PurePosixPath(name.replace("\\", "/")).name).strip()
    if name in ("", ".", ".."):
        content_type = part.get_content_type()
        extension = ".eml" if content_type == "message/rfc822" else None
        extension = extension or mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{number}{extension}"
    return name
