"""HTML: the text a browser would show, decoded as the page says.

The encoding is, as in a browser: a byte order mark, else the page's own
``<meta charset>`` (or ``http-equiv`` Content-Type) in its first bytes, else
what ``encodings.detect`` finds. Scripts, styles, templates and comments are
not text.
"""

import codecs
import io
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import BinaryIO

from ingest.pipeline import encodings
from ingest.pipeline.blocks import TEXT_FRAGMENT_CHARS

META_BYTES = 4096
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def html_encoding(raw: BinaryIO, *, checkpoint=lambda: None) -> str:
    raw.seek(0)
    head = raw.read(META_BYTES)
    raw.seek(0)
    if bom := encodings.bom_encoding(head):
        return bom
    if wide := encodings.wide_encoding(head):
        return wide
    if match := META_CHARSET.search(head):
        try:
            name = codecs.lookup(match.group(1).decode("ascii")).name
        except LookupError:
            pass
        else:
            # A page that says UTF-16 in ASCII bytes is not UTF-16 (as in
            # the HTML standard); Latin-1 is read as its superset cp1252.
            if not name.startswith(("utf-16", "utf-32")):
                return "cp1252" if name in ("latin-1", "iso8859-1", "ascii") else name
    return encodings.detect(raw, checkpoint=checkpoint)


class _VisibleText(HTMLParser):
    """Collects the text a browser would show: no scripts, styles or head.

    ``</head>`` is optional in HTML: like a browser, the head ends at
    ``<body>`` or at the first tag that cannot be in a head.
    """

    HIDDEN = frozenset({"script", "style", "noscript", "template", "svg"})
    HEAD_CONTENT = frozenset(
        {"title", "meta", "link", "base", "style", "script", "noscript", "template"}
    )
    BLOCKS = frozenset(
        [
            "p",
            "div",
            "br",
            "li",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "section",
            "article",
            "header",
            "footer",
            "pre",
            "table",
            "ul",
            "ol",
            "blockquote",
            "title",
            "dt",
            "dd",
            "hr",
            "main",
            "nav",
            "aside",
            "figure",
            "figcaption",
            "caption",
            "address",
            "dl",
            "form",
            "fieldset",
            "legend",
            "details",
            "summary",
        ]
    )
    # A table's cells stand apart even when the markup has no space between
    # them (<td>a</td><td>b</td> reads "a b", not "ab").
    CELLS = frozenset({"td", "th"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden_depth = 0
        self.in_head = False
        self.out: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self.in_head = True
            return
        if self.in_head and tag not in self.HEAD_CONTENT:
            self.in_head = False
        if tag in self.HIDDEN:
            self.hidden_depth += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")
        elif tag in self.CELLS:
            self.out.append("\t")

    def handle_endtag(self, tag):
        if tag == "head":
            self.in_head = False
        elif tag in self.HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.hidden_depth and not self.in_head:
            self.out.append(data)


def extract_html(raw: BinaryIO, encoding: str, info: dict) -> Iterator[str]:
    raw.seek(0)
    stream = io.TextIOWrapper(raw, encoding=encoding, errors="replace")
    parser = _VisibleText()
    while True:
        block = stream.read(TEXT_FRAGMENT_CHARS)
        if block:
            parser.feed(block)
        else:
            parser.close()
        yield from parser.out
        parser.out.clear()
        if not block:
            return
