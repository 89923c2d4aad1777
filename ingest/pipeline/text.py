"""Canonical text and chunks, both streamed through a file in the work directory.

Canonical form: Unicode NFC without NUL characters (lone surrogates become
U+FFFD); each run of white space inside a line becomes one
space; lines are stripped; runs of blank lines become one blank line (a
paragraph break); no leading or trailing blank lines. The sha256 of that text
(UTF-8) is the document's identity within a project.
"""

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_LINE = 1024 * 1024  # a "line" longer than this is cut, so memory stays bounded
READ_BLOCK = 256 * 1024
_SPACES = re.compile(r"\s+")
_SURROGATES = re.compile("[\ud800-\udfff]")


def lines(fragments: Iterable[str]) -> Iterator[str]:
    """Reassemble arbitrary text fragments into lines (without their newline).

    No line is longer than ``MAX_LINE``: a longer one is cut (at its last space
    before the limit when it has one). The cuts depend on the text only, not
    on how it was split into fragments, so the canonical form does not either.
    """
    pending: list[str] = []
    pending_len = 0
    for fragment in _unix_newlines(fragments):
        *complete, rest = fragment.split("\n")
        for part in complete:
            pending.append(part)
            if pending_len + len(part) > MAX_LINE:
                yield from _cut_long_line(pending, MAX_LINE)
            yield "".join(pending)
            pending, pending_len = [], 0
        pending.append(rest)
        pending_len += len(rest)
        if pending_len > MAX_LINE:
            yield from _cut_long_line(pending, MAX_LINE)
            pending_len = len(pending[0])
    if pending:
        yield "".join(pending)


def _unix_newlines(fragments: Iterable[str]) -> Iterator[str]:
    # A CRLF split between two fragments is still one line break: a trailing
    # CR waits for the next fragment.
    carry = ""
    for fragment in fragments:
        fragment = carry + fragment
        carry = "\r" if fragment.endswith("\r") else ""
        if carry:
            fragment = fragment[:-1]
        yield fragment.replace("\r\n", "\n").replace("\r", "\n")
    if carry:
        yield "\n"


def _cut_long_line(pending: list[str], limit: int) -> Iterator[str]:
    """Yield ``limit``-bounded heads of the pending line; leave the rest pending."""
    text = "".join(pending)
    while len(text) > limit:
        # Cut at the last space before the limit so no word is split (when there is one).
        cut = text.rfind(" ", 0, limit)
        cut = cut if cut > 0 else limit
        yield text[:cut]
        text = text[cut:]
    pending[:] = [text]


@dataclass
class CanonicalText:
    path: Path
    sha256: str
    length: int  # characters


def _storable(text: str) -> str:
    # NUL characters go: no text column (PostgreSQL's least of all) stores
    # them. A lone surrogate (a JSON "\ud800" escape) cannot be UTF-8: it
    # becomes U+FFFD, as undecodable bytes do.
    return _SURROGATES.sub("\ufffd", text.replace("\x00", ""))


def canonicalize(fragments: Iterable[str], path: Path) -> CanonicalText:
    """Write the canonical form of ``fragments`` to ``path``; return its identity."""
    digest = hashlib.sha256()
    length = 0
    blank_run = True  # true at the start: no leading blank lines
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for raw_line in lines(fragments):
            line = unicodedata.normalize("NFC", _storable(raw_line))
            line = _SPACES.sub(" ", line).strip()
            if not line:
                blank_run = True
                continue
            piece = ("\n\n" if blank_run else "\n") + line if length else line
            blank_run = False
            out.write(piece)
            digest.update(piece.encode("utf-8"))
            length += len(piece)
    return CanonicalText(path=path, sha256=digest.hexdigest(), length=length)


@dataclass(frozen=True)
class Piece:
    index: int
    start: int
    end: int
    text: str


def chunks(path: Path, *, size: int, overlap: int) -> Iterator[Piece]:
    """Windows of at most ``size`` characters, each overlapping the last by ``overlap``.

    A window ends at the last white space in its final fifth when there is one,
    so words are not split; the next window starts ``overlap`` characters
    before that end. Offsets are character positions in the canonical text.
    """
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError("chunk size must be positive and overlap smaller than it")
    with path.open("r", encoding="utf-8", newline="\n") as source:
        buffer, buffer_start, index = "", 0, 0
        eof = False
        while True:
            while not eof and len(buffer) < size + 1:
                block = source.read(READ_BLOCK)
                eof = not block
                buffer += block
            if not buffer:
                return
            end = _window_end(buffer, size, overlap, at_eof=eof)
            yield Piece(index, buffer_start, buffer_start + end, buffer[:end])
            index += 1
            if eof and end >= len(buffer):
                return
            step = max(end - overlap, 1)
            buffer, buffer_start = buffer[step:], buffer_start + step


def _window_end(buffer: str, size: int, overlap: int, *, at_eof: bool) -> int:
    if len(buffer) <= size and at_eof:
        return len(buffer)
    end = min(size, len(buffer))
    # A window must end past ``overlap``: the next one starts ``overlap``
    # before this end, and must start (and end) later than this one. With a
    # large overlap that rules out some of the spaces in the last fifth.
    lowest = max(end - max(size // 5, 1), overlap, 1)
    cut = max(buffer.rfind(" ", lowest, end), buffer.rfind("\n", lowest, end))
    return cut + 1 if cut > 0 else end
