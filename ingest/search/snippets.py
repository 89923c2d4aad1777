"""A hit's snippet: a passage around the first matched word, escaped, the
words the query wanted in ``<mark>``.

Made here for both databases, with the analyzer's own rule, so a snippet
marks exactly the words that matched (a database's highlighter cuts words
its own way). The text is cut into spans (words, and what lies between
them); each span is escaped on its own and a matched word is wrapped in
``<mark>`` as it is joined: no marker character ever goes through the text,
so no character a document holds can open or close a mark.
"""

import html
import re

from django.utils.safestring import SafeString, mark_safe

from ingest.search.analyzer import MARKS, SPLIT_SCRIPTS, fold, tokens

SNIPPET_CHARS = 240  # about thirty words of prose
LEAD_CHARS = SNIPPET_CHARS // 4  # of them, before the first matched word

# A word as the analyzer cuts it, found in the text as written (not folded),
# so its place in the text is known: one character of the scripts written
# without spaces, or a run of letters, digits and marks.
_WORD = re.compile(f"[{SPLIT_SCRIPTS}][{MARKS}]*|(?:[^\\W_{SPLIT_SCRIPTS}]|[{MARKS}])+")


def snippet(text: str, words: frozenset[str], *, whole: bool = False) -> SafeString:
    """About SNIPPET_CHARS characters of ``text`` from a little before its
    first word in ``words`` (the whole ``text`` with ``whole``), as HTML."""
    matched = _matched_spans(text, words)
    if whole:
        start, end = 0, len(text)
    else:
        first = matched[0][0] if matched else 0
        start = _word_start(text, max(0, first - LEAD_CHARS)) if first > LEAD_CHARS else 0
        end = _word_end(text, start + SNIPPET_CHARS)
    parts, position = ["… " if start else ""], start
    for word_start, word_end in matched:
        if word_start < start:
            continue
        if word_end > end:
            break
        parts += [_escaped(text[position:word_start]), "<mark>"]
        parts += [_escaped(text[word_start:word_end]), "</mark>"]
        position = word_end
    parts += [_escaped(text[position:end]), " …" if end < len(text) else ""]
    return mark_safe("".join(parts).strip())


def _matched_spans(text: str, words: frozenset[str]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in _matched_words(text, words):
        if merged and merged[-1][1] == start:  # characters of a word in Chinese
            start = merged.pop()[0]
        merged.append((start, end))
    return merged


def _matched_words(text: str, words: frozenset[str]) -> list[tuple[int, int]]:
    if not words:
        return []
    if text.isascii():
        # Folding ASCII is lowering it: same length, same places.
        pattern = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
        found = re.finditer(f"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])", text.lower())
        return [match.span() for match in found]
    folded: dict[str, bool] = {}  # a word seen once is folded once
    spans = []
    for match in _WORD.finditer(text):
        word = match.group()
        if word not in folded:
            folded[word] = not words.isdisjoint(
                tokens(word) if not word.isascii() else [fold(word)]
            )
        if folded[word]:
            spans.append(match.span())
    return spans


def _word_start(text: str, position: int) -> int:
    """The start of the first word at or after ``position``."""
    match = _WORD.search(text, position)
    return match.start() if match else position


def _word_end(text: str, position: int) -> int:
    """``position``, moved back to the end of the word it falls in."""
    if position >= len(text):
        return len(text)
    for match in _WORD.finditer(text, max(0, position - 100), position + 1):
        if match.start() < position < match.end():
            return match.start()
    return position


def _escaped(text: str) -> str:
    return html.escape(text.replace("\n", " "), quote=False)
