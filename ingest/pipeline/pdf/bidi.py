"""Right-to-left text in reading order, from where its words stand.

PDFium's own reordering leaves some Arabic words with their letters in
drawing order and turns runs of Latin words inside Hebrew around. Here
each word's letters are put in reading order by where its first and last
letters stand, words are read from the right, a run of left-to-right words
inside keeps its own order, and punctuation drawn at a word's left end
goes to its end, where the Unicode bidirectional algorithm took it from.
"""

import re
import unicodedata

# The right-to-left scripts' letters (Hebrew, Arabic, Syriac, Thaana, NKo...).
RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def is_rtl(text: str) -> bool:
    """Whether right-to-left letters outnumber the others in ``text``."""
    rtl = len(RTL.findall(text))
    return rtl > 0 and rtl * 2 > sum(char.isalpha() for char in text)


def reading_order(words: list[tuple[float, float, str]]) -> str:
    """The words of a right-to-left run, each given with the x of its first
    and last letter as PDFium listed them, in reading order."""
    placed = []
    for left, right, text in words:
        if not RTL.search(text):
            drawn = text if left <= right else _reversed_clusters(text)
            placed.append((min(left, right), True, _trailing_marks(drawn)))
        elif right < left:
            placed.append((right, False, _trailing_marks(text)))  # in reading order
        elif left < right:
            placed.append((left, False, _trailing_marks(_reversed_clusters(text))))
        else:
            # One glyph stands for the whole word (its ToUnicode entry is
            # the word); PDFium turned that string around letter by letter.
            placed.append((left, False, _trailing_marks(text[::-1])))
    placed.sort(key=lambda word: -word[0])
    ordered: list[str] = []
    latin: list[str] = []
    for _x, left_to_right, text in placed:
        if left_to_right:
            latin.append(text)
            continue
        ordered.extend(reversed(latin))
        latin = []
        ordered.append(text)
    ordered.extend(reversed(latin))
    return " ".join(word for word in ordered if word)


def _reversed_clusters(text: str) -> str:
    """``text`` backwards, each letter kept before its combining marks."""
    clusters: list[str] = []
    for char in text:
        if clusters and unicodedata.combining(char):
            clusters[-1] += char
        else:
            clusters.append(char)
    return "".join(reversed(clusters))


def _trailing_marks(text: str) -> str:
    """Punctuation at the start of a word in a right-to-left line belongs at
    its end: a sentence's stop is drawn at the left, ".1897" reads "1897."."""
    stripped = text.lstrip(".,:;!?")
    return stripped + text[: len(text) - len(stripped)]
