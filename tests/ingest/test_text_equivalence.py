"""The block-wise canonical form and chunking give exactly what the
line-by-line code gave: the same text, sha256, length, chunk boundaries and
offsets, on real documents and on generated text full of edge cases.

The reference ("oracle") is the line-by-line code as it was, kept here and
nowhere else: it is the definition the faster code must meet.
"""

import codecs
import csv
import gzip
import hashlib
import io
import itertools
import json
import random
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from ingest.pipeline import canonical, readers

# --- the oracle: the line-by-line code, unchanged but for names ----------------------

OLD_SPACES = re.compile(r"\s+")
OLD_SURROGATES = re.compile("[\ud800-\udfff]")


def old_lines(fragments: Iterable[str], max_line: int) -> Iterator[str]:
    pending: list[str] = []
    pending_len = 0
    for fragment in _unix_newlines(fragments):
        *complete, rest = fragment.split("\n")
        for part in complete:
            pending.append(part)
            if pending_len + len(part) > max_line:
                yield from _cut_long_line(pending, max_line)
            yield "".join(pending)
            pending, pending_len = [], 0
        pending.append(rest)
        pending_len += len(rest)
        if pending_len > max_line:
            yield from _cut_long_line(pending, max_line)
            pending_len = len(pending[0])
    if pending:
        yield "".join(pending)


def _unix_newlines(fragments: Iterable[str]) -> Iterator[str]:
    carry = ""
    for fragment in fragments:
        fragment = carry + fragment
        carry = "\r" if fragment.endswith("\r") else ""
        if carry:
            fragment = fragment[:-1]
        yield fragment.replace("\r\n", "\n").replace("\r", "\n")
    if carry:
        yield "\n"


def _cut_long_line(pending: list[str], limit: int) -> Iterator[str]:
    text = "".join(pending)
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        cut = cut if cut > 0 else limit
        yield text[:cut]
        text = text[cut:]
    pending[:] = [text]


def _storable(raw: str) -> str:
    return OLD_SURROGATES.sub("\ufffd", raw.replace("\x00", ""))


def old_canonical(fragments: Iterable[str], max_line: int) -> tuple[str, str]:
    """The canonical text and its sha256, exactly as the old ``canonicalize`` wrote them."""
    digest = hashlib.sha256()
    out: list[str] = []
    length = 0
    blank_run = True
    for raw_line in old_lines(fragments, max_line):
        line = unicodedata.normalize("NFC", _storable(raw_line))
        line = OLD_SPACES.sub(" ", line).strip()
        if not line:
            blank_run = True
            continue
        piece = ("\n\n" if blank_run else "\n") + line if length else line
        blank_run = False
        out.append(piece)
        digest.update(piece.encode("utf-8"))
        length += len(piece)
    return "".join(out), digest.hexdigest()


def old_chunks(content: str, *, size: int, overlap: int, read_block: int) -> Iterator[tuple]:
    """(index, start, end, text) of each window, as the old ``chunks`` cut them."""
    source = iter(content[i : i + read_block] for i in range(0, len(content), read_block))
    buffer, buffer_start, index = "", 0, 0
    eof = False
    while True:
        while not eof and len(buffer) < size + 1:
            block = next(source, "")
            eof = not block
            buffer += block
        if not buffer:
            return
        end = _window_end(buffer, size, overlap, at_eof=eof)
        yield (index, buffer_start, buffer_start + end, buffer[:end])
        index += 1
        if eof and end >= len(buffer):
            return
        step = max(end - overlap, 1)
        buffer, buffer_start = buffer[step:], buffer_start + step


def _window_end(buffer: str, size: int, overlap: int, *, at_eof: bool) -> int:
    if len(buffer) <= size and at_eof:
        return len(buffer)
    end = min(size, len(buffer))
    lowest = max(end - max(size // 5, 1), overlap, 1)
    cut = max(buffer.rfind(" ", lowest, end), buffer.rfind("\n", lowest, end))
    return cut + 1 if cut > 0 else end


# --- comparing old and new -----------------------------------------------------------

CHUNK_SETTINGS = [(1000, 100), (200, 20), (64, 0), (37, 36), (5, 4), (1, 0)]


def assert_same_canonical(tmp_path, fragments: list[str], *, chunked=True) -> str:
    expected, expected_sha = old_canonical(fragments, canonical.MAX_LINE)

    result = canonical.canonicalize(iter(fragments), tmp_path / "canonical.txt")

    written = result.path.read_bytes().decode("utf-8")
    assert written == expected
    assert result.sha256 == expected_sha == hashlib.sha256(written.encode()).hexdigest()
    assert result.length == len(expected)
    if chunked:
        for size, overlap in CHUNK_SETTINGS if len(expected) < 20_000 else CHUNK_SETTINGS[:3]:
            assert_same_chunks(result.path, expected, size=size, overlap=overlap)
    return expected


def assert_same_chunks(path: Path, content: str, *, size: int, overlap: int) -> None:
    new = [
        (p.index, p.start, p.end, p.text)
        for p in canonical.chunks(path, size=size, overlap=overlap)
    ]
    old = list(
        old_chunks(content, size=size, overlap=overlap, read_block=canonical.CHUNK_READ_CHARS)
    )

    assert new == old, (size, overlap)


def split_at(raw: str, cuts: Iterable[int]) -> list[str]:
    edges = [0, *sorted(set(cuts)), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(edges)]


def random_split(raw: str, rng: random.Random, pieces: int) -> list[str]:
    return split_at(raw, (rng.randint(0, len(raw)) for _ in range(pieces)))


def test_the_white_space_sets_are_all_of_pythons_white_space():
    # The block code replaces each of these by a space; together with "\n"
    # they must be exactly what "\s", str.split() and str.strip() treat as space.
    every = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    regex = {chr(c) for c in range(0x110000) if re.match(r"\s", chr(c))}

    assert set(canonical._UNICODE_SPACES) | {" ", "\n"} == every == regex
    assert set(canonical._ASCII_SPACES) == {c for c in every if c.isascii()} - {" ", "\n"}


# --- real documents ---------------------------------------------------------------------


def real_documents() -> list[Path]:
    """Debian's licences and a few megabytes of its package documentation."""
    licences = sorted(p for p in Path("/usr/share/common-licenses").iterdir() if p.is_file())
    docs, total = [], 0
    for path in sorted(Path("/usr/share/doc").rglob("*")):
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 512 * 1024:
            continue
        if path.suffix in (".txt", ".md", ".rst", ".html", ".gz", "") and total < 6 * 1024**2:
            docs.append(path)
            total += path.stat().st_size
    return licences + docs


def fragments_of(path: Path) -> list[str] | None:
    """The fragments the pipeline's own extractor makes of a document, or None
    when the extractor refuses it (binary files among the docs)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    name = path.name.removesuffix(".gz")
    try:
        kind = readers.detect_kind(name if "." in name else "plain.txt", raw[:4096])
        if kind not in ("txt", "md", "html"):
            return None
        reader = io.BufferedReader(io.BytesIO(raw), 64 * 1024)
        return list(readers.extract(kind, reader, checkpoint=lambda: None))
    except (readers.UnsupportedType, readers.ExtractionError):
        return None


def test_real_documents_have_the_same_canonical_form_and_chunks(tmp_path):
    compared = 0
    for path in real_documents():
        fragments = fragments_of(path)
        if fragments is None:
            continue
        assert_same_canonical(tmp_path, fragments, chunked=compared % 10 == 0)
        compared += 1

    assert compared > 100  # licences, READMEs, changelogs, HTML manuals (241 here)


def test_real_documents_split_anywhere_have_the_same_canonical_form(tmp_path, monkeypatch):
    monkeypatch.setattr(canonical, "CANONICAL_BLOCK_CHARS", 97)  # many block edges per document
    rng = random.Random(15)
    for path in real_documents()[:60]:
        fragments = fragments_of(path)
        if fragments:
            whole = "".join(fragments)
            assert_same_canonical(tmp_path, random_split(whole, rng, 200), chunked=False)


def test_the_whole_licence_corpus_as_one_stream(tmp_path):
    fragments = []
    for path in real_documents()[:40]:
        fragments.extend(fragments_of(path) or [])

    assert_same_canonical(tmp_path, fragments)


# --- generated text ------------------------------------------------------------------------

# Combining marks (including a pair NFC reorders), Hangul jamo that compose,
# singletons NFC replaces (U+2000, U+212B), every white space, CR/LF, NUL,
# lone surrogates, wide characters.
EDGE_CHARACTERS = [
    *"abcdefghij  ..,",
    *["e", "A", "\u0301", "\u0308", "\u0327", "\u0323", "\u031b", "\u1100", "\u1161", "\u11a8"],
    *["\u212b", "\u2000", "\u2001", "\u0344", "\u0f73"],
    *canonical._UNICODE_SPACES,
    *["\n", "\r", "\r\n", "\n\n", "\x00", "\ud800", "\udfff", "\udbff\udc00"],
    *["日", "本", "☃", "\U0001f600", "\ufeff", "\u200b"],
]


def generated_text(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(EDGE_CHARACTERS) for _ in range(length))


@pytest.mark.parametrize("seed", range(40))
def test_generated_text_in_random_fragments(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    monkeypatch.setattr(canonical, "CANONICAL_BLOCK_CHARS", rng.choice([1, 3, 16, 200, 64 * 1024]))
    raw = generated_text(rng, rng.randint(0, 3000))

    assert_same_canonical(tmp_path, random_split(raw, rng, rng.randint(0, 80)))


@pytest.mark.parametrize("seed", range(12))
def test_generated_text_with_short_line_limit(tmp_path, monkeypatch, seed):
    # Long lines are cut before anything else, at a space or at the limit,
    # which may fall inside a combining sequence or a CRLF's line.
    rng = random.Random(1000 + seed)
    monkeypatch.setattr(canonical, "MAX_LINE", rng.choice([1, 2, 5, 17, 60]))
    monkeypatch.setattr(canonical, "CANONICAL_BLOCK_CHARS", rng.choice([1, 7, 50, 4096]))
    raw = generated_text(rng, 1500)

    assert_same_canonical(tmp_path, random_split(raw, rng, rng.randint(0, 60)))


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "\n",
        "\r",
        "\r\n",
        "\r\r\n\n",
        " \t\u3000\n\u2028\u2029\n\xa0",
        "\x00",
        "\ud800",
        "a\x00\u0301",  # NUL between base and mark: they compose once NUL is gone
        "\ud800\u0301 e\u0301",
        "\u2000x\u2001",
        "x\u0323\u0307 \u1100\u1161\u11a8",
        "tab\tinside\t\tline\t",
        "\u0301leading mark\n\u0301",
    ],
)
def test_edge_cases_split_at_every_position(tmp_path, monkeypatch, raw):
    monkeypatch.setattr(canonical, "CANONICAL_BLOCK_CHARS", 1)
    for cut in range(len(raw) + 1):
        assert_same_canonical(tmp_path, [raw[:cut], raw[cut:]], chunked=False)
    assert_same_canonical(tmp_path, list(raw))


def test_combining_mark_across_the_real_block_edge(tmp_path):
    # The base letter ends one 64K fragment, its accent starts the next.
    head = "x" * (canonical.CANONICAL_BLOCK_CHARS - 1) + "e"
    expected = assert_same_canonical(tmp_path, [head, "\u0301 and more\n"], chunked=False)

    assert "e\u0301" not in expected
    assert "x" * 10 + "\u00e9 and more" in expected


def test_crlf_across_the_real_block_edge(tmp_path):
    head = "word " * (canonical.CANONICAL_BLOCK_CHARS // 5 - 1) + "end\r"
    expected = assert_same_canonical(tmp_path, [head, "\nnext\r\n\r\n\rafter"], chunked=False)

    assert expected.endswith("end\nnext\n\nafter")


def test_very_long_lines_at_the_real_limit(tmp_path):
    rng = random.Random(3)
    spaced = " ".join("w" * rng.randint(1, 30) for _ in range(180_000))  # ~3M characters
    solid = "é" * (canonical.MAX_LINE * 2 + 5)  # no space: cut at the limit
    accents = ("e\u0301" * (canonical.MAX_LINE // 2 + 3)).replace("\u0301", "\u0301 ", 1)
    raw = spaced + "\n" + solid + "\r\n" + accents + "\n\n tail"

    fragments = [raw[i : i + 64 * 1024] for i in range(0, len(raw), 64 * 1024)]
    expected = assert_same_canonical(tmp_path, fragments, chunked=False)

    assert max(map(len, expected.split("\n"))) <= canonical.MAX_LINE
    assert_same_canonical(tmp_path, [raw], chunked=False)


# --- what the other extractors feed the same path --------------------------------------------


def test_csv_json_and_html_fragments(tmp_path):
    rng = random.Random(11)
    cells = [[generated_text(rng, rng.randint(0, 30)) for _ in range(5)] for _ in range(400)]
    cells = [
        [c.replace("\x00", "").replace("\ud800", "").replace("\udfff", "") for c in row]
        for row in cells
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(cells)
    data = {"rows": [{"name": row[0], "values": row[1:]} for row in cells], "n": 1.5}
    page = (
        "<html><body>" + "".join(f"<p>{row[0]}<br>{row[1]}</p>" for row in cells) + "</body></html>"
    )
    for kind, content in [("csv", buffer.getvalue()), ("json", json.dumps(data)), ("html", page)]:
        raw = codecs.BOM_UTF8 + content.encode("utf-8", "surrogatepass")
        reader = io.BufferedReader(io.BytesIO(raw), 64 * 1024)
        fragments = list(readers.extract(kind, reader, checkpoint=lambda: None))

        assert_same_canonical(tmp_path, fragments)


# --- chunking alone -----------------------------------------------------------------------------


@pytest.mark.parametrize("read_block", [7, 1000, 256 * 1024])
def test_chunks_of_a_long_canonical_text_match(tmp_path, monkeypatch, read_block):
    monkeypatch.setattr(canonical, "CHUNK_READ_CHARS", read_block)
    rng = random.Random(read_block)
    words = ["a", "bb", "ccc", "dddd", "ééééé", "日本語", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]
    content = "".join(
        rng.choice(words) + rng.choice(["", " ", " ", "\n", "\n\n"]) for _ in range(8_000)
    )
    content = unicodedata.normalize("NFC", content).strip()
    path = tmp_path / "content.txt"
    path.write_bytes(content.encode("utf-8"))

    for size, overlap in [*CHUNK_SETTINGS[:4], (300, 299), (9, 2)]:
        assert_same_chunks(path, content, size=size, overlap=overlap)
