"""Accents drawn apart from their letters, put back on them.

pdfTeX with LaTeX's default fonts (OT1) has no accented letters: the "ğ" of
"Oğuz" is a "g" with a breve drawn over it, and PDFium reports the breve as
a spacing character of its own, often elsewhere in the line's content order
("Oguz ˘"). A spacing accent whose box stands over a letter (under it, for
a cedilla or an ogonek) is that letter's accent: the letter takes the
matching combining mark and the spacing accent is dropped, with the spaces
PDFium put around it where it jumped back over the letters. One standing
beside the letters (a tilde in a typewriter URL, an acute typed for an
apostrophe, a rupee sign mapped to a grave) is text, and stays.
"""

import re
from collections.abc import Callable, Iterator

ABOVE = {
    "\u0060": "\u0300",  # grave
    "\u02cb": "\u0300",
    "\u00b4": "\u0301",  # acute
    "\u02ca": "\u0301",
    "\u02c6": "\u0302",  # circumflex
    "\u02dc": "\u0303",  # tilde
    "\u00af": "\u0304",  # macron
    "\u02c9": "\u0304",
    "\u02d8": "\u0306",  # breve
    "\u02d9": "\u0307",  # dot above
    "\u00a8": "\u0308",  # diaeresis
    "\u02da": "\u030a",  # ring
    "\u02dd": "\u030b",  # double acute
    "\u02c7": "\u030c",  # caron
}
BELOW = {
    "\u00b8": "\u0327",  # cedilla
    "\u02db": "\u0328",  # ogonek
}
SPACING_ACCENT = re.compile("[" + "".join(ABOVE) + "".join(BELOW) + "]")
# LaTeX puts an accent over a dotless i or j (\'{\i}): the accented letter
# is the dotted one.
_DOTTED = {"\u0131": "i", "\u0237": "j"}
# At least this share of the accent's width must stand over the letter.
OVERLAP = 0.5
# Letters closer than this many letter heights are of one word: a space
# PDFium put between them, where an accent jumped back, is no word break.
JOINED = 0.15
# Past the first letter under the accent, look this many characters (both
# sides together) further for one it stands over more.
STOP_AFTER = 4

Box = tuple[float, float, float, float]  # left, bottom, right, top


def drawn_apart(
    text: str, box: Callable[[int], Box], generated: Callable[[int], bool]
) -> tuple[dict[int, str], set[int]]:
    """The letters that take an accent drawn apart, and the characters to drop.

    ``text`` holds one character per PDFium character index, ``box`` gives
    an index's tight box and ``generated`` whether PDFium made the character
    up (a space it inferred). Returns ``(letters, dropped)``: the index of
    each accented letter with the letter and its combining marks, and the
    indexes of the spacing accents that became those marks and of the
    spaces PDFium put around them inside a word. Accents are rare, so each
    is matched by looking at its own line's letters (then at the lines
    beside it, where PDFium gave it a line of its own)."""
    letters: dict[int, str] = {}
    dropped: set[int] = set()
    for match in SPACING_ACCENT.finditer(text):
        index, accent = match.start(), match.group()
        ink = box(index)
        if ink[2] - ink[0] <= 0:
            continue
        for window in _windows(text, index):
            letter = _letter_under(text, window, ink, near=index, below=accent in BELOW, box=box)
            if letter is not None:
                base = letters.get(letter, text[letter])
                if accent in ABOVE:
                    base = _DOTTED.get(base, base)
                letters[letter] = base + (ABOVE | BELOW)[accent]
                dropped.add(index)
                break
    for index in sorted(dropped):
        dropped |= _spaces_inside_a_word(text, index, dropped, box, generated)
    return letters, dropped


def _spaces_inside_a_word(
    text: str,
    index: int,
    dropped: set[int],
    box: Callable[[int], Box],
    generated: Callable[[int], bool],
) -> set[int]:
    """The spaces PDFium inferred around a dropped accent, when the letters
    on either side of them stand close enough to be one word."""
    before, after = index, index
    while before > 0 and (text[before - 1] in " \t" or before - 1 in dropped):
        before -= 1
    while after + 1 < len(text) and (text[after + 1] in " \t" or after + 1 in dropped):
        after += 1
    spaces = {i for i in range(before, after + 1) if text[i] in " \t"}
    if before == 0 or after + 1 == len(text) or not all(generated(i) for i in spaces):
        return set()
    left, right = box(before - 1), box(after + 1)
    height = max(left[3] - left[1], right[3] - right[1])
    if not text[before - 1].isalnum() or not text[after + 1].isalnum():
        return set()
    return spaces if -height < right[0] - left[2] < JOINED * height else set()


def _windows(text: str, index: int) -> list[tuple[int, int]]:
    """The accent's line, then the lines before and after it."""
    start, end = _line_at(text, index)
    windows = [(start, end)]
    if start >= 2:
        windows.append(_line_at(text, start - 2))
    if end < len(text):
        windows.append(_line_at(text, end + 2))
    return windows


def _line_at(text: str, index: int) -> tuple[int, int]:
    start = text.rfind("\r\n", 0, index)
    end = text.find("\r\n", index)
    return (start + 2 if start >= 0 else 0), (end if end >= 0 else len(text))


def _letter_under(
    text: str,
    window: tuple[int, int],
    accent: Box,
    *,
    near: int,
    below: bool,
    box: Callable[[int], Box],
) -> int | None:
    """The letter the accent stands over (under). PDFium puts an accent
    near its letter in content order: the search goes outward from the
    accent and stops a few characters past the first letter it finds, so a
    page of accents costs a few boxes each, not a line's worth."""
    width = accent[2] - accent[0]
    best, most, found_at = None, 0.0, None
    for step, index in enumerate(_outward(near, *window)):
        if found_at is not None and step - found_at > STOP_AFTER:
            break
        if not text[index].isalpha():
            continue
        left, bottom, right, top = box(index)
        overlap = min(right, accent[2]) - max(left, accent[0])
        height = top - bottom
        gap = bottom - accent[3] if below else accent[1] - top
        # Touching, or apart by at most the letter's height; not across it.
        if overlap >= OVERLAP * width and -0.5 * height <= gap <= height and overlap > most:
            best, most = index, overlap
            found_at = step if found_at is None else found_at
    return best


def _outward(near: int, start: int, end: int) -> Iterator[int]:
    """Indexes of [start, end), nearest to ``near`` first, alternating sides."""
    near = min(max(near, start), end)
    for distance in range(max(near - start, end - near) + 1):
        if distance and start <= near - distance < end:
            yield near - distance
        if near + distance < end:
            yield near + distance
