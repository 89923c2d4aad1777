"""Canonical text and chunks, both streamed through a file in the work directory.

Canonical form: Unicode NFC without NUL characters (lone surrogates become
U+FFFD); each run of white space inside a line becomes one
space; lines are stripped; runs of blank lines become one blank line (a
paragraph break); no leading or trailing blank lines. The sha256 of that text
(UTF-8) is the document's identity within a project.

The form is defined line by line, but computed over blocks of whole lines
(about 64K characters) with a few C-speed string operations per block: per
line Python work cost some 150 times the price of reading and hashing the
bytes. Every step below is exactly the line-by-line rule, because a line break
separates what NFC and white-space collapsing see: NFC never composes across
"\\n", and a run of white space that holds a line break is the end of one
line, any blank lines, and the start of the next.
"""

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ingest.pipeline.blocks import CANONICAL_BLOCK_CHARS, CHUNK_READ_CHARS

MAX_LINE = 1024 * 1024  # a "line" longer than this is cut, so memory stays bounded
_SURROGATES = re.compile("[\ud800-\udfff]")
# What ``str.split()``, ``str.strip()`` and the regular expression ``\s`` call
# white space, but for the line break (the tests check it is the whole set).
# The ASCII ones are searched in every block; the others only in the blocks
# that are not ASCII.
_ASCII_SPACES = ("\t", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f")
_OTHER_SPACES = (
    "\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_UNICODE_SPACES = _ASCII_SPACES + tuple(_OTHER_SPACES)


def lines(fragments: Iterable[str]) -> Iterator[str]:
    """Reassemble arbitrary text fragments into lines (without their newline).

    No line is longer than ``MAX_LINE``: a longer one is cut (at its last space
    before the limit when it has one). The cuts depend on the text only, not
    on how it was split into fragments, so the canonical form does not either.
    """
    for block in line_blocks(fragments):
        yield from block.split("\n")


def line_blocks(fragments: Iterable[str]) -> Iterator[str]:
    """The text as blocks of whole lines: each block is lines joined by "\\n",
    and one line break (not included) separates two consecutive blocks.

    CRLF and CR become "\\n" (also when a CRLF is split between fragments);
    lines longer than ``MAX_LINE`` are cut as :func:`lines` says.
    """
    head = ""  # the unfinished last line, and a CR that may be half of a CRLF
    batch: list[str] = []
    batch_len = 0
    seen = False
    for fragment in fragments:
        seen = True
        # A huge fragment (a JSON string value) is taken a block at a time, so no
        # block, nor the copies canonicalizing makes of it, outgrows
        # CANONICAL_BLOCK_CHARS much.
        for part in _slices(fragment, CANONICAL_BLOCK_CHARS):
            batch.append(part)
            batch_len += len(part)
            if batch_len >= CANONICAL_BLOCK_CHARS:
                block, head = _split_complete(head + "".join(batch), final=False)
                batch, batch_len = [], 0
                if block is not None:
                    yield block
    if seen:
        block, _ = _split_complete(head + "".join(batch), final=True)
        yield block


def _slices(fragment: str, size: int) -> Iterable[str]:
    if len(fragment) <= size:
        return (fragment,)
    return (fragment[i : i + size] for i in range(0, len(fragment), size))


def _split_complete(text: str, *, final: bool) -> tuple[str | None, str]:
    """The whole lines at the start of ``text`` (None if there are none) and the rest."""
    held = ""
    if not final and text.endswith("\r"):
        text, held = text[:-1], "\r"  # a CRLF may be split here
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if final:
        block, rest = text, ""
    else:
        end = text.rfind("\n")
        block, rest = (None, text) if end < 0 else (text[:end], text[end + 1 :])
    if block is not None and len(block) > MAX_LINE:
        block = "\n".join(_bounded_lines(block.split("\n")))
    if len(rest) > MAX_LINE:
        # The heads of a long unfinished line are lines already; the cuts are
        # those the whole line will get, as they only look at its first MAX_LINE.
        heads = _cut_long_line(rest, MAX_LINE)
        rest = heads.pop()
        block = "\n".join(heads if block is None else [block, *heads])
    return block, rest + held


def _bounded_lines(raw_lines: list[str]) -> Iterator[str]:
    for line in raw_lines:
        if len(line) > MAX_LINE:
            yield from _cut_long_line(line, MAX_LINE)
        else:
            yield line


def _cut_long_line(text: str, limit: int) -> list[str]:
    """``text`` cut into ``limit``-bounded pieces; only the last may be shorter."""
    pieces = []
    while len(text) > limit:
        # Cut at the last space before the limit so no word is split (when there is one).
        cut = text.rfind(" ", 0, limit)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    return pieces


@dataclass
class CanonicalText:
    path: Path
    sha256: str
    length: int  # characters


def _without_nul(text: str) -> str:
    # NUL characters go: no text column (PostgreSQL's least of all) stores them.
    return text.replace("\x00", "") if "\x00" in text else text


def _utf8(text: str) -> tuple[str, bytes]:
    """``text`` and its UTF-8, a lone surrogate (a JSON "\\ud800" escape, which
    has no UTF-8) replaced by U+FFFD as undecodable bytes are. The line-by-line
    code replaced them before NFC; doing it here is the same, and spares a pass
    over every block: neither a surrogate nor U+FFFD is white space, and NFC
    neither decomposes nor composes either."""
    try:
        return text, text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATES.sub("\ufffd", text)
        return text, text.encode("utf-8")


def _canonical_block(block: str) -> tuple[str, int, int]:
    """A block of lines in canonical form, without its leading and trailing
    blank lines, and the line breaks found in those (a count of at least two
    means a paragraph break)."""
    block = _without_nul(block)
    spaces = _ASCII_SPACES
    if not block.isascii():
        block = unicodedata.normalize("NFC", block)
        spaces = _UNICODE_SPACES
    for space in spaces:
        if space in block:
            block = block.replace(space, " ")
    while "  " in block:
        block = block.replace("  ", " ")
    # Now white space is single spaces and line breaks: the spaces that touch
    # a line break are line ends and starts, which lines lose when stripped.
    block = block.replace(" \n", "\n").replace("\n ", "\n")
    body = block.strip(" \n")
    if not body:
        return "", block.count("\n"), block.count("\n")
    while "\n\n\n" in body:
        body = body.replace("\n\n\n", "\n\n")
    leading = block.count("\n", 0, block.index(body[0]))
    trailing = block.count("\n", block.rindex(body[-1]) + 1)
    return body, leading, trailing


def canonicalize(fragments: Iterable[str], path: Path) -> CanonicalText:
    """Write the canonical form of ``fragments`` to ``path``; return its identity."""
    digest = hashlib.sha256()
    length = 0
    breaks = 0  # line breaks since the last text written: two or more make a paragraph
    with path.open("wb") as out:
        for block in line_blocks(fragments):
            body, leading, trailing = _canonical_block(block)
            if not body:
                breaks += leading + 1  # the +1 is the break after the block
                continue
            if length:
                body = ("\n\n" if breaks + leading >= 2 else "\n") + body
            body, data = _utf8(body)
            out.write(data)
            digest.update(data)
            length += len(body)
            breaks = trailing + 1
    return CanonicalText(path=path, sha256=digest.hexdigest(), length=length)


class Piece(NamedTuple):
    # A tuple, not a frozen dataclass: one is built per chunk, and a frozen
    # dataclass's __init__ cost more than cutting the chunk.
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
        # The window moves along ``buffer`` by offset (``pos``); the buffer is
        # rebuilt only when it runs short, not sliced after every chunk.
        buffer, pos, buffer_start, index = "", 0, 0, 0
        eof = False
        while True:
            if not eof and len(buffer) - pos < size + 1:
                parts, available = [buffer[pos:]], len(buffer) - pos
                while not eof and available < size + 1:
                    block = source.read(CHUNK_READ_CHARS)
                    eof = not block
                    parts.append(block)
                    available += len(block)
                buffer, pos = "".join(parts), 0
            remaining = len(buffer) - pos
            if not remaining:
                return
            end = _window_end(buffer, pos, size, overlap, at_eof=eof)
            yield Piece(index, buffer_start, buffer_start + end, buffer[pos : pos + end])
            index += 1
            if eof and end >= remaining:
                return
            step = max(end - overlap, 1)
            pos, buffer_start = pos + step, buffer_start + step


def _window_end(buffer: str, pos: int, size: int, overlap: int, *, at_eof: bool) -> int:
    """The end of the window that starts at ``pos``, relative to ``pos``."""
    remaining = len(buffer) - pos
    if remaining <= size and at_eof:
        return remaining
    end = min(size, remaining)
    # A window must end past ``overlap``: the next one starts ``overlap``
    # before this end, and must start (and end) later than this one. With a
    # large overlap that rules out some of the spaces in the last fifth.
    lowest = max(end - max(size // 5, 1), overlap, 1)
    cut = max(
        buffer.rfind(" ", pos + lowest, pos + end), buffer.rfind("\n", pos + lowest, pos + end)
    )
    return cut - pos + 1 if cut >= 0 else end
