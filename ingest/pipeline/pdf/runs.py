"""A page's runs of text and where they stand, read from PDFium's text page.

PDFium gives the page's characters in content order, with the spaces and
line breaks it inferred and a box per character. A run is a stretch of one
of PDFium's lines that a reader takes in one sweep: the line, cut where
PDFium joined a hyphenated word across a line break and where a gap is far
wider than a space (columns or cells drawn row by row). Layout works on
runs, never on characters: a box costs a call into PDFium, and a run needs
two, where a character-by-character layout would need one per character
(bench/extract.py measures what layout costs against plain extraction).

What a reader would not see is left out here:
- text outside the page's crop box (a spread cut in halves, a printer's
  label below the page);
- glyphs whose font says they carry no text (an empty ToUnicode entry),
  which PDFium reports as their glyph number;
- U+FFFE, PDFium's mark for the hyphen it removed where it joined a word
  across a line break: the word is whole already, and the run ends with it;
- an accent drawn apart from its letter, which the letter takes instead
  (``accents``).

Each run is put in the frame of its line's writing direction, so that text
written at 90, 180 or 270 degrees (a page turned with /Rotate, a ReportLab
overlay, a label up a chart's axis) reads left to right and top to bottom
there, and is laid out with the other runs of its direction.
"""

import bisect
import ctypes
import itertools
import math
import re
import unicodedata
from collections.abc import Iterator

import pypdfium2.raw as pdfium_c

from ingest.pipeline.pdf import accents, bidi
from ingest.pipeline.pdf.geometry import inside, straddles, to_frame

HYPHEN_MARK = "\ufffe"
_LINE_BREAK = "\r\n"
_WORD = re.compile(r"\S+")
_SPACE = re.compile(r"\s+")
# What GetText leaves out or PDFium uses as a placeholder; never text.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd\ufffe\uffff]")
# A gap between two of PDFium's rectangles wider than this many line
# heights cuts a run: word spaces, even a justified narrow column's
# stretched sentence ends, stay near one line height.
WIDE_GAP = 2.0
# Letters are about half a line height wide: a piece wider than this many
# line heights per character has a gap somewhere in it.
SPARSE = 0.8


def _words(text: str) -> str:
    """The text's words, one space apart, without placeholders. (A dropped
    character's placeholder goes first: it must leave no space behind.)"""
    return _NOT_TEXT.sub("", " ".join(text.replace("\x00", "").split()))


class Run:
    """Text on one baseline, in its line's frame: x along the line, y up."""

    __slots__ = ("line", "order", "text", "x0", "x1", "y0", "y1")

    def __init__(self, text: str, box: tuple, order: int, line: int):
        self.text = text
        self.x0, self.y0, self.x1, self.y1 = box
        self.order = order  # PDFium's content order, used to break ties
        self.line = line  # the PDFium line it came in

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def page_runs(textpage, crop: tuple) -> dict[int, list[Run]]:
    """The page's runs grouped by their line's writing direction (degrees
    counter-clockwise: 0 for ordinary text)."""
    count = pdfium_c.FPDFText_CountChars(textpage)
    if count <= 0:
        return {}
    reader = _Reader(textpage, _page_text(textpage, count))
    reader.put_accents_back()
    groups: dict[int, list[Run]] = {}
    for line, start, end in _lines(reader.text):
        if start == end:
            continue
        angle = reader.angle(start, end)
        frame = groups.setdefault(angle, [])
        for piece in reader.pieces(start, end):
            frame.extend(to_frame(run, angle) for run in reader.runs(piece, line, crop))
    return {angle: runs for angle, runs in groups.items() if runs}


def _page_text(textpage, count: int) -> str:
    """The page's characters, one per PDFium character index.

    GetText is one call, but it leaves control characters out, so its text
    lines up with the character indices only when it has ``count``
    characters; otherwise each character is asked for alone."""
    buffer = (ctypes.c_ushort * (count + 1))()
    written = pdfium_c.FPDFText_GetText(textpage, 0, count, buffer)
    text = bytes(buffer)[: max(written - 1, 0) * 2].decode("utf-16-le", errors="replace")
    if len(text) == count:
        return text
    return "".join(_one_char(pdfium_c.FPDFText_GetUnicode(textpage, i)) for i in range(count))


def _one_char(code: int) -> str:
    if code == 2:
        return HYPHEN_MARK  # GetText's spelling of the line-break hyphen
    if (code < 0x20 and code not in (9, 10, 13)) or 0xD800 <= code < 0xE000 or code > 0x10FFFF:
        return "\x00"  # keeps the indices; removed from the text later
    return chr(code)


def _lines(text: str) -> Iterator[tuple[int, int, int]]:
    """(number, start, end) of each line PDFium broke the page into."""
    start = 0
    for number, line in enumerate(text.split(_LINE_BREAK)):
        yield number, start, start + len(line)
        start += len(line) + len(_LINE_BREAK)


class _Piece:
    """Characters [start, end) that lie on one baseline, and the text they
    stand for (longer when the last word was joined across a line break)."""

    __slots__ = ("end", "start", "text_end")

    def __init__(self, start: int, end: int, text_end: int):
        self.start, self.end, self.text_end = start, end, text_end


class _Reader:
    def __init__(self, textpage, text: str):
        self.textpage = textpage
        self.text = text
        self._rect = pdfium_c.FS_RECTF()
        self._rect_ref = ctypes.byref(self._rect)
        self._edges = [ctypes.c_double() for _ in range(4)]
        self._edge_refs = [ctypes.byref(edge) for edge in self._edges]
        self._accented: dict[int, str] = {}  # a letter's index: it with its accents
        self._accented_at: list[int] = []
        self._dropped_at: list[int] = []

    def put_accents_back(self) -> None:
        """Accents drawn apart join their letters (see ``accents``); the
        spacing accents (and the spaces PDFium put around them) become
        placeholders, so indices still line up."""
        if not accents.SPACING_ACCENT.search(self.text):
            return
        letters, dropped = accents.drawn_apart(self.text, self.tight_box, self._generated)
        if dropped:
            chars = list(self.text)
            for index in dropped:
                chars[index] = "\x00"
            self.text = "".join(chars)
        self._accented, self._accented_at = letters, sorted(letters)
        self._dropped_at = sorted(dropped)

    def angle(self, start: int, end: int) -> int:
        """The writing direction of a line, to the nearest quarter turn
        (PDFium gives each character's; the first letter speaks for all)."""
        first = _WORD.search(self.text, start, end)
        if first is None:
            return 0
        radians = pdfium_c.FPDFText_GetCharAngle(self.textpage, first.start())
        if radians < 0:
            return 0
        # PDFium measures the angle clockwise; the frames here turn counter-clockwise.
        return -round(math.degrees(radians) / 90) % 4 * 90

    def pieces(self, start: int, end: int) -> Iterator[_Piece]:
        """The line cut after each word PDFium joined across a line break:
        the joined word's second half lies on the next baseline, and is
        left out of both boxes."""
        text = self.text
        position = start
        while True:
            mark = text.find(HYPHEN_MARK, position, end)
            if mark < 0:
                yield _Piece(position, end, end)
                return
            word_end = _SPACE.search(text, mark, end)
            word_end = word_end.start() if word_end else end
            yield _Piece(position, mark, word_end)
            position = word_end

    def runs(self, piece: _Piece, line: int, crop: tuple) -> list[Run]:
        first, last = self._ends(piece.start, piece.end)
        if first is None:
            return []
        box = self._span(first, last)
        runs = [(piece.start, piece.text_end, box)]
        height = box[3] - box[1]
        if last > first and height > 0:
            runs = self._cut_at_gaps(first, last, piece.text_end, box) or runs
        out = []
        for start, text_end, run_box in runs:
            out.extend(self._visible(start, text_end, run_box, line, crop))
        return out

    def _ends(self, start: int, end: int) -> tuple[int | None, int]:
        first = _WORD.search(self.text, start, end)
        if first is None:
            return None, start
        last = end - 1
        while last > first.start() and self.text[last].isspace():
            last -= 1
        return first.start(), last

    def box(self, index: int) -> tuple[float, float, float, float]:
        """A character's box: the loose one (the font's ascent to descent,
        so the letters of a line share a height) unless PDFium's loose box
        is empty, as it is for text set at a right angle."""
        rect = self._rect
        pdfium_c.FPDFText_GetLooseCharBox(self.textpage, index, self._rect_ref)
        if rect.right - rect.left > 0.01 and rect.top - rect.bottom > 0.01:
            return rect.left, rect.bottom, rect.right, rect.top
        pdfium_c.FPDFText_GetCharBox(self.textpage, index, *self._edge_refs)
        left, right, bottom, top = (edge.value for edge in self._edges)
        return left, bottom, right, top

    def tight_box(self, index: int) -> tuple[float, float, float, float]:
        """A character's box around its glyph's ink (an accent's, not its line's)."""
        pdfium_c.FPDFText_GetCharBox(self.textpage, index, *self._edge_refs)
        left, right, bottom, top = (edge.value for edge in self._edges)
        return left, bottom, right, top

    def _generated(self, index: int) -> bool:
        return pdfium_c.FPDFText_IsGenerated(self.textpage, index) == 1

    def _span(self, first: int, last: int) -> tuple[float, float, float, float]:
        a = self.box(first)
        b = a if last == first else self.box(last)
        return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])

    def _cut_at_gaps(self, first: int, last: int, text_end: int, box: tuple):
        """The piece cut where it has a wide gap; None when it has none.

        PDFium's rectangles (one per text object) show the gaps between
        objects. A gap inside one object (a label and the next drawn with
        one positioning operator) shows only in how sparse the piece is: a
        piece much wider than its letters are is looked at word by word.
        Left-to-right pieces only: their characters advance along x."""
        height = box[3] - box[1]
        count = pdfium_c.FPDFText_CountRects(self.textpage, first, last - first + 1)
        # A dropped accent's rectangle stands back over its letter: the gap
        # after it is no gap on the page, so such a piece is cut by its words.
        if count >= 2 and not self._dropped_in(first, last + 1):
            starts = self._cuts_between_rects(first, last, count, height)
        elif count >= 2 or box[2] - box[0] > SPARSE * height * (last - first + 1):
            starts = self._cuts_between_words(first, last + 1, height)
        else:
            return None
        if not starts:
            return None
        bounds = [first, *starts]
        runs = []
        for index, start in enumerate(bounds):
            end = bounds[index + 1] if index + 1 < len(bounds) else text_end
            a, b = self._ends(start, end if index + 1 < len(bounds) else last + 1)
            if a is not None:
                runs.append((start, end, self._span(a, b)))
        return runs

    def _cuts_between_rects(self, first: int, last: int, count: int, height: float) -> list:
        rects = [self._rect_at(i) for i in range(count)]
        starts = []
        for before, after in itertools.pairwise(rects):
            if after[0] - before[2] > WIDE_GAP * height:
                # The gap's middle: rectangles are tight, character boxes loose.
                cut = self._first_at_or_after(first, last, (before[2] + after[0]) / 2)
                if cut is not None and self.text[cut - 1].isspace():
                    starts.append(cut)
        return starts

    def _cuts_between_words(self, start: int, end: int, height: float) -> list:
        starts, right = [], None
        for match in _WORD.finditer(self.text, start, end):
            if not match.group().strip("\x00"):
                continue  # only placeholders: nothing a reader sees
            left = self.box(match.start())[0]
            if right is not None and left - right > WIDE_GAP * height:
                starts.append(match.start())
            right = self.box(match.end() - 1)[2]
        return starts

    def _rect_at(self, index: int) -> tuple[float, float, float, float]:
        pdfium_c.FPDFText_GetRect(self.textpage, index, *self._edge_refs)
        left, top, right, bottom = (edge.value for edge in self._edges)
        return left, bottom, right, top

    def _first_at_or_after(self, first: int, last: int, x: float) -> int | None:
        """The first character of [first, last] whose box starts at ``x`` or
        further right (a binary search: x grows along a left-to-right run)."""
        low, high = first, last
        while low < high:
            middle = (low + high) // 2
            if self.box(middle)[0] < x:
                low = middle + 1
            else:
                high = middle
        return low if low > first else None

    def _visible(self, start: int, text_end: int, box, line: int, crop) -> list[Run]:
        """The run as text, without what lies outside the crop box."""
        if inside(box, crop):
            text = self._clean(start, text_end)
            return [Run(text, box, start, line)] if text else []
        if not straddles(box, crop):
            return []
        # Across the crop box's edge: word by word, each kept if its middle is inside.
        runs = []
        for match in _WORD.finditer(self.text, start, text_end):
            first, last = match.start(), match.end() - 1
            mark = self.text.find(HYPHEN_MARK, first, last + 1)
            word_box = self._span(first, max(mark - 1, first) if mark >= 0 else last)
            text = self._clean(match.start(), match.end())
            if text and inside(word_box, crop):
                runs.append(Run(text, word_box, first, line))
        return runs

    def _clean(self, start: int, end: int) -> str:
        text = self.text[start:end]
        accented = self._accented_in(start, end)
        if text.isascii() and not accented:
            return _words(text)
        if bidi.RTL.search(text):
            return self._logical(start, end)
        text = self._without_glyph_numbers(text, start, mark="\x00")
        if accented:
            # The glyph-number pass kept the length: offsets still name characters.
            text = "".join(accented.get(start + offset, char) for offset, char in enumerate(text))
            text = unicodedata.normalize("NFC", text)
        return _words(text)

    def _dropped_in(self, start: int, end: int) -> bool:
        at = self._dropped_at
        first = bisect.bisect_left(at, start)
        return first < len(at) and at[first] < end

    def _accented_in(self, start: int, end: int) -> dict[int, str]:
        at = self._accented_at
        first = bisect.bisect_left(at, start)
        if first == len(at) or at[first] >= end:
            return {}
        return {index: self._accented[index] for index in at[first : bisect.bisect_left(at, end)]}

    def _logical(self, start: int, end: int) -> str:
        """A right-to-left run in reading order (see ``bidi``): each word with
        the positions of its first and last letters."""
        words = []
        for match in _WORD.finditer(self.text, start, end):
            kept = self._kept(match.start(), match.end())
            if not kept:
                continue
            # Letters tell the drawing direction; a sentence's final stop
            # is drawn at the far end whichever way the word was drawn.
            letters = [index for index in kept if self.text[index].isalpha()] or kept
            text = "".join(self.text[index] for index in kept)
            words.append((self.box(letters[0])[0], self.box(letters[-1])[0], text))
        return _NOT_TEXT.sub("", bidi.reading_order(words))

    def _kept(self, start: int, end: int) -> list[int]:
        """Indexes of the characters of [start, end) that are text: not
        placeholders, not glyphs PDFium found no text for."""
        text = _NOT_TEXT.sub(
            "\x00", self._without_glyph_numbers(self.text[start:end], start, mark="\x00")
        )
        return [start + offset for offset, char in enumerate(text) if char != "\x00"]

    def _without_glyph_numbers(self, text: str, start: int, *, mark: str = "") -> str:
        """The text without the glyphs PDFium found no text for.

        A font's ToUnicode map may say a glyph carries no text (a ligature's
        second glyph, a mark drawn apart); PDFium then reports the glyph's
        number as if it were a character, Greek letters in an Arabic word.
        Non-ASCII characters are checked, one call each. A spacing modifier
        glued to right-to-left letters is such a glyph too: those scripts
        write their marks as combining characters."""
        kept: list[str] = []
        for offset, char in enumerate(text):
            no_text = not char.isascii() and (
                pdfium_c.FPDFText_HasUnicodeMapError(self.textpage, start + offset)
                or (unicodedata.category(char) == "Sk" and kept and bidi.RTL.match(kept[-1]))
            )
            kept.append(mark if no_text else char)
        return "".join(kept)
