"""How closely one text reads like another: the words of each, normalised,
compared in order. Shared by the tests and ``bench/fidelity.py``.

Both texts are normalised the same way (NFKC, lower case) and cut into
words: runs of letters and digits, except that each character of a script
written without spaces (Han, kana, Thai...) is a word of its own, so that
two extractors that space such text differently still agree. The similarity
is difflib's ratio over the two word lists, 2M / (len(a) + len(b)) where M
counts the words matched in order: 1.0 when the words are the same and in
the same order, lower for every word missing, added, repeated or moved.
"""

import difflib
import re
import unicodedata

# Scripts written without spaces between words: each character is a word.
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
)
_WORD = re.compile(rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+")


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def similarity(text: str, truth: str) -> float:
    """Word-order similarity of ``text`` to ``truth``, from 0 to 1."""
    return word_similarity(words(text), words(truth))


def word_similarity(ours: list[str], truth: list[str]) -> float:
    if ours == truth:
        return 1.0
    if not ours or not truth:
        return 0.0
    return difflib.SequenceMatcher(None, ours, truth, autojunk=False).ratio()


def recall(text: str, truth: str) -> float:
    """The share of the truth's words (with their counts) found in ``text``, in any order."""
    from collections import Counter

    have, want = Counter(words(text)), Counter(words(truth))
    total = sum(want.values())
    return sum(min(count, have[word]) for word, count in want.items()) / total if total else 1.0
