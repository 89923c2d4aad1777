"""Text, CSV/TSV, JSON and JSON Lines, read as streams.

Each reader is a generator of text fragments; none holds the whole file, so
memory does not grow with the file (JSON through ijson, event by event).
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
