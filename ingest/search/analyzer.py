"""What a word is: the one rule for indexing and for queries, on both databases.

Text is folded, then cut into tokens:

- folded: compatibility forms taken apart (NFKD: "ﬁ" is "fi", a full-width digit a digit,
  "™" is "tm"), the accents of the Latin, Greek and Cyrillic alphabets and
  the vowel points of Hebrew and Arabic dropped ("Natásha" is "natasha",
  "façade" is "facade"), case folded ("Straße" is "strasse"), and what is
  left composed again (NFC: a kana keeps its voicing mark);
- a token is a run of letters, digits and the marks that belong to them (a
  Devanagari vowel sign stays inside its word); everything else separates,
  the underscore included, so "e-mail", "john.doe@example.org",
  "https://example.org/a/b" and "3.14" are several tokens each;
- in the scripts written without spaces between words (Chinese, Japanese,
  Korean, Thai, Lao), each character is a token of its own: a word is then
  found inside a sentence as the phrase of its characters;
- a token is at most MAX_TOKEN_CHARS characters: a longer run is cut.

A query is analyzed the same way (``ingest.search.query``), so a word of the
query that becomes several tokens is a phrase: "e-mail" finds "e-mail" and
"e mail", and "example.org" finds the address above.

The index needs no positions: PostgreSQL stores each chunk's distinct tokens
as a ``tsvector`` and its token sequence as ``terms`` (a phrase is checked
there as a substring); SQLite's FTS5 indexes ``terms``, split at spaces only
(its ``ascii`` tokenizer: our tokens hold no ASCII separator, and it leaves
other characters as they are). Both databases therefore see the same tokens.

Speed: this runs in the workers, over every byte ingested
(``bench.pipeline_throughput --novel``). Folding and cutting are whole-text
operations in C (``str.lower``, one regular expression, ``bytes.split``);
only the runs of characters beyond ASCII are normalized, each distinct run
once per process; and text that is ASCII once folded (most Latin-script
text, accents and curly quotes included) is cut by ``bytes.split``.
"""

import functools
import re
import struct
import unicodedata

MAX_TOKEN_CHARS = 100


def _ranges(codes) -> str:
    """A regular expression character class body for the code points ``codes``."""
    codes = sorted(codes)
    parts, start = [], None
    for code, following in zip(codes, [*codes[1:], None], strict=True):
        start = code if start is None else start
        if following != code + 1:
            first, last = re.escape(chr(start)), re.escape(chr(code))
            parts.append(first if start == code else f"{first}-{last}")
            start = None
    return "".join(parts)


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


# Computed from the running Python's Unicode database, once per process, at
# import. Marks beyond U+1FFFF are only the variation selectors.
_CATEGORIES = list(map(unicodedata.category, map(chr, range(0x20000))))
MARKS = _ranges(
    [c for c, category in enumerate(_CATEGORIES) if category[0] == "M"]
    + list(range(0xE0100, 0xE01F0))
)
# Accents and points dropped by folding: the combining marks of these blocks.
_DROPPED_BLOCKS = [
    (0x0300, 0x036F),  # combining diacritical marks (Latin, Greek, Cyrillic)
    (0x0483, 0x0489),  # Cyrillic
    (0x0591, 0x05C7),  # Hebrew points
    (0x0610, 0x061A),  # Arabic
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x06D6, 0x06ED),
    (0x1AB0, 0x1AFF),  # diacritical marks extended
    (0x1DC0, 0x1DFF),  # diacritical marks supplement
    (0x20D0, 0x20FF),  # for symbols
    (0xFE20, 0xFE2F),  # half marks
]
_DROPPED = re.compile(
    "["
    + _ranges(c for low, high in _DROPPED_BLOCKS for c in range(low, high + 1) if _is_mark(chr(c)))
    + "]+"
)
# Scripts written without spaces between words: Hangul jamo and syllables,
# CJK punctuation aside, kana, bopomofo, CJK ideographs (with extensions and
# compatibility forms), Thai and Lao.
SPLIT_SCRIPTS = (
    "\u0e00-\u0eff\u1100-\u11ff\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
_SPLIT = re.compile(f"[{SPLIT_SCRIPTS}][{MARKS}]*")
_HAS_SPLIT = re.compile(f"[{SPLIT_SCRIPTS}]")
_TOKEN = re.compile(f"[\\w{MARKS}]{{1,{MAX_TOKEN_CHARS}}}")
_SEPARATORS = re.compile(f"[^\\w{MARKS}]+")
_BEYOND_ASCII = re.compile("[^\\x00-\\x7f]+")
# bytes.translate table: ASCII letters and digits kept, every other byte a space.
_ASCII_RULE = bytes(c if chr(c).isalnum() and c < 0x80 else 0x20 for c in range(256))


@functools.lru_cache(maxsize=65536)
def _folded_run(run: str) -> str:
    """A run of characters beyond ASCII, folded, with what then separates
    words made a space: a curly quote or a dash becomes a space, "á" an
    "a", and a run of Chinese stays as it is."""
    folded = unicodedata.normalize("NFKD", run)
    folded = unicodedata.normalize("NFC", _DROPPED.sub("", folded).casefold())
    return _SEPARATORS.sub(" ", folded) if _SEPARATORS.search(folded) else folded


def fold(text: str) -> str:
    """``text`` as tokens are taken from it (see the module's docstring):
    lowered, then each run of characters beyond ASCII folded on its own
    (the runs of a language repeat, and are folded once per process; the
    whole text normalized twice cost the worker more than the rest of the
    analysis)."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    return _BEYOND_ASCII.sub(lambda run: _folded_run(run.group()), lowered)


def token_bytes(text: str) -> list[bytes]:
    """The tokens of ``text`` as UTF-8, in order."""
    folded = fold(text)
    if folded.isascii():
        # Most text, once folded: letters, digits, and ASCII between them.
        tokens = folded.encode("ascii").translate(_ASCII_RULE).split()
        if not tokens or max(map(len, tokens)) <= MAX_TOKEN_CHARS:
            return tokens
    if _HAS_SPLIT.search(folded):
        folded = _SPLIT.sub(r" \g<0> ", folded)
    return " ".join(_TOKEN.findall(folded.replace("_", " "))).encode("utf-8").split()


def term_bytes(text: str) -> bytes:
    """The tokens of ``text`` as UTF-8, one space apart: what a row's
    ``terms`` holds."""
    return b" ".join(token_bytes(text))


def tokens(text: str) -> list[str]:
    """The tokens of ``text``, in order."""
    return term_bytes(text).decode("utf-8").split()


class Indexed:
    """What the index stores of one text: ``terms`` (the tokens in order,
    separated by single spaces) and ``vector``, PostgreSQL's binary form of a
    ``tsvector`` holding the distinct tokens, sorted as PostgreSQL sorts
    them (byte order), without positions."""

    __slots__ = ("terms", "vector")

    def __init__(self, text: str):
        tokens = token_bytes(text)
        self.terms = b" ".join(tokens)
        lexemes = sorted(set(tokens))
        # tsvector_recv: the count, then each lexeme NUL-terminated with its
        # number of positions (0) as a 16-bit integer. Sorted, so PostgreSQL
        # has nothing to sort.
        body = b"\0\0\0".join(lexemes) + b"\0\0\0" if lexemes else b""
        self.vector = _COUNT.pack(len(lexemes)) + body

    def vector_literal(self) -> str:
        """``vector`` in tsvector's text form, for a write through the ORM."""
        return " ".join(f"'{lexeme}'" for lexeme in sorted(set(self.terms.decode().split())))


_COUNT = struct.Struct(">i")
