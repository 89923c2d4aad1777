"""Text, CSV/TSV, JSON, JSON Lines and XML, read as streams.

Each reader is a generator of text fragments; none holds the whole file, so
memory does not grow with the file (JSON through ijson, event by event,
XML through expat).
"""

import codecs
import csv
import io
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import BinaryIO

from ingest.pipeline.blocks import TEXT_FRAGMENT_CHARS
from ingest.pipeline.errors import ExtractionError

DELIMITERS = ",;\t|"
SNIFF_CHARS = 64 * 1024
# A cell may be as large as the file: the csv module's default limit (128 KiB)
# made a real spreadsheet with one long cell fail as "malformed".
csv.field_size_limit(sys.maxsize)


def text_stream(raw: BinaryIO, encoding: str, *, newline: str | None = None) -> io.TextIOWrapper:
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline=newline)


def extract_plain(raw: BinaryIO, encoding: str, info: dict) -> Iterator[str]:
    stream = text_stream(raw, encoding)
    while block := stream.read(TEXT_FRAGMENT_CHARS):
        yield block


def extract_csv(raw: BinaryIO, encoding: str, info: dict, *, default: str = ",") -> Iterator[str]:
    stream = text_stream(raw, encoding, newline="")
    sample = stream.read(SNIFF_CHARS)
    delimiter = sniff_delimiter(sample, default)
    info["delimiter"] = delimiter
    rows = csv.reader(_chain(sample, stream), delimiter=delimiter)
    try:
        for row in rows:
            yield ", ".join(cell.strip() for cell in row) + "\n"
    except csv.Error as exc:
        raise ExtractionError(f"the table is malformed (line {rows.line_num}: {exc}).") from exc


def sniff_delimiter(sample: str, default: str) -> str:
    # The Sniffer is given whole lines only, and told which delimiters exist.
    lines = sample[: sample.rfind("\n") + 1] or sample
    try:
        return csv.Sniffer().sniff(lines, delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else default


def _chain(first: str, stream: io.TextIOWrapper) -> Iterator[str]:
    """Lines of ``first`` then of the rest of the stream, as if never split."""
    yield from io.StringIO(first + stream.readline(), newline="")
    yield from stream


def extract_json(raw: BinaryIO, encoding: str, info: dict) -> Iterator[str]:
    import ijson

    # ijson parses UTF-8 bytes at C speed; any other encoding is recoded to
    # UTF-8 on the way in, block by block.
    raw.seek(0)
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        if encoding == "utf-8-sig":
            raw.read(len(codecs.BOM_UTF8))
        stream = raw
    else:
        stream = _Utf8Reader(text_stream(raw, encoding))
    try:
        yield from _json_events(ijson.basic_parse(stream, use_float=True))
    except (ijson.JSONError, ijson.IncompleteJSONError, ValueError, RecursionError) as exc:
        raise ExtractionError(f"the JSON is malformed ({exc}).") from exc


class _Utf8Reader:
    """A text stream read back as UTF-8 bytes: ijson's C parser wants bytes.
    (codecs.EncodedFile would not do: ijson calls ``readinto``, which it
    hands to the undecoded file underneath.)"""

    def __init__(self, stream: io.TextIOWrapper):
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # ijson asks for nothing to learn the stream's type
        return self._stream.read(size if size < 0 else max(size // 4, 1)).encode()


def _json_events(events) -> Iterator[str]:
    """``path: value`` lines, the path made of the object keys above the value
    (list items share their list's path)."""
    # basic_parse, not parse: parse builds a prefix string for every event,
    # which for deep nesting costs memory as the square of the depth.
    keys: list[str] = []
    for event, value in events:
        if event == "map_key":
            keys[-1] = str(value)
        elif event == "start_map":
            keys.append("")
        elif event == "end_map":
            keys.pop()
        elif event in ("string", "number", "boolean"):
            path = ".".join(keys)
            yield f"{path}: {_scalar(value)}\n" if path else f"{_scalar(value)}\n"


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def extract_jsonl(raw: BinaryIO, encoding: str, info: dict) -> Iterator[str]:
    """One JSON value a line; blank lines are allowed. A bad line names its number."""
    stream = text_stream(raw, encoding)
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise ExtractionError(f"line {number} is not valid JSON ({exc}).") from exc
        yield from _json_values(value)
        yield "\n"


def _json_values(data) -> Iterator[str]:
    # Depth first with an explicit stack: nesting the parser accepted must not
    # hit the recursion limit here.
    stack = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            items = [(item, f"{path}.{key}" if path else str(key)) for key, item in value.items()]
            stack.extend(reversed(items))
        elif isinstance(value, list):
            stack.extend((item, path) for item in reversed(value))
        elif value is not None:
            yield f"{path}: {value}\n" if path else f"{value}\n"


# --- XML ----------------------------------------------------------------------

# Elements whose content no reader sees: a script, a style sheet, and the
# metadata, settings and styles parts of a flat OpenDocument file (its
# master styles stay: they hold the page headers and footers).
XML_HIDDEN = {
    "script",
    "style",
    "office:meta",
    "office:settings",
    "office:scripts",
    "office:font-face-decls",
    "office:styles",
    "office:automatic-styles",
}
# Elements inside a line of text (OpenDocument's spans, links and spacing):
# they end no line. Every other element's end does.
XML_INLINE = {
    "text:span",
    "text:a",
    "text:s",
    "text:tab",
    "text:line-break",
    "text:soft-page-break",
    "text:bookmark",
    "text:bookmark-start",
    "text:bookmark-end",
    "text:note-citation",
}
XML_SPACING = {
    "text:s": " ",
    "text:tab": "\t",
    "text:line-break": "\n",
    # A footnote sits inside its paragraph: its mark and its text stand apart.
    "text:note": " ",
    "text:note-body": " ",
}


def extract_xml(raw: BinaryIO, encoding: str, info: dict) -> Iterator[str]:
    """An XML file's text content, element by element: what a flat
    OpenDocument file (.fodt, .fods, .fodp) says, or a data file's values,
    without its markup. Parsed as a stream by expat, which fetches no
    external entity."""
    from xml.parsers import expat

    out: list[str] = []
    hidden = [0]
    sheets = []  # set inside a spreadsheet, whose tables are sheets with names on tabs

    def start(name, attributes):
        if hidden[0] or name in XML_HIDDEN or name.rsplit(":", 1)[-1] in XML_HIDDEN:
            hidden[0] += 1
        elif name == "office:spreadsheet":
            sheets.append(True)
        elif name == "table:table" and sheets and attributes.get("table:name"):
            out.append(attributes["table:name"] + "\n")
        elif name in XML_SPACING:
            count = int(attributes.get("text:c", "1") or 1) if name == "text:s" else 1
            out.append(XML_SPACING[name] * max(1, min(count, 1000)))

    def end(name):
        if hidden[0]:
            hidden[0] -= 1
        elif name not in XML_INLINE:
            out.append("\n")

    def data(text):
        if not hidden[0]:
            out.append(text)

    parser = expat.ParserCreate(encoding="utf-8")
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = data
    stream = text_stream(raw, encoding)
    try:
        while block := stream.read(TEXT_FRAGMENT_CHARS):
            parser.Parse(block.lstrip("\ufeff") if not out else block, False)
            yield "".join(out)
            out.clear()
        parser.Parse("", True)
    except expat.ExpatError as exc:
        raise ExtractionError(f"the XML is malformed ({exc}).") from exc
    yield "".join(out)
