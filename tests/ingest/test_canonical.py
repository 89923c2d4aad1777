"""Canonical text (NFC, whitespace, sha256), line reassembly and chunk windows."""

import hashlib
import itertools
import random

import pytest

from ingest.pipeline import canonical
from ingest.pipeline.canonical import canonicalize, chunks, lines


def canonical_of(tmp_path, fragments, name="canonical.txt"):
    result = canonicalize(fragments, tmp_path / name)
    written = result.path.read_text(encoding="utf-8")
    return result, written


def canonical_str(tmp_path, raw: str) -> str:
    return canonical_of(tmp_path, [raw])[1]


def write(tmp_path, content: str, name="chunk-source.txt"):
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(content)
    return path


# --- canonicalize ------------------------------------------------------------------


def test_canonical_form_is_nfc(tmp_path):
    decomposed = "caf" + "e\u0301" + " na" + "i\u0308" + "ve"

    assert decomposed != "café naïve"
    assert canonical_str(tmp_path, decomposed) == "café naïve"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a  b\t\tc\u00a0\u2003d", "a b c d"),
        ("   leading and trailing   ", "leading and trailing"),
        ("one\ntwo", "one\ntwo"),
        ("one\n\n\n\n\ntwo", "one\n\ntwo"),
        ("one\n  \t \n\t\ntwo", "one\n\ntwo"),
        ("\n\n\n  start", "start"),
        ("end\n\n\n   \n", "end"),
        ("win\r\nlines\r\n\r\n\r\npara", "win\nlines\n\npara"),
        ("old\rmac\r\rpara", "old\nmac\n\npara"),
        ("", ""),
        (" \n\t\n ", ""),
    ],
    ids=[
        "spaces",
        "strip",
        "line",
        "blank run",
        "blank with spaces",
        "leading blanks",
        "trailing blanks",
        "crlf",
        "cr",
        "empty",
        "only blanks",
    ],
)
def test_canonical_whitespace(tmp_path, raw, expected):
    result, written = canonical_of(tmp_path, [raw])

    assert written == expected
    assert result.length == len(expected)


def test_sha256_is_that_of_the_canonical_utf8_text(tmp_path):
    result, written = canonical_of(tmp_path, ["Ünïcode  text\r\n\r\n\r\nsecond  paragraph\n"])

    assert written == "Ünïcode text\n\nsecond paragraph"
    assert result.sha256 == hashlib.sha256(written.encode("utf-8")).hexdigest()
    assert result.length == len(written)


def test_same_text_with_different_whitespace_has_same_identity(tmp_path):
    a, _ = canonical_of(tmp_path, ["Title\n\nBody text here.\n"], "a.txt")
    b, _ = canonical_of(tmp_path, ["  Title  \r\n\r\n\r\n\r\nBody   text\there.   \n\n\n"], "b.txt")
    c, _ = canonical_of(tmp_path, ["Title\n\nBody text here, changed.\n"], "c.txt")

    assert a.sha256 == b.sha256
    assert a.sha256 != c.sha256


def test_nfc_and_nfd_inputs_have_same_identity(tmp_path):
    nfc, _ = canonical_of(tmp_path, ["é à ñ"], "nfc.txt")
    nfd, _ = canonical_of(tmp_path, ["e\u0301 a\u0300 n\u0303"], "nfd.txt")

    assert nfc.sha256 == nfd.sha256


def test_fragment_boundaries_do_not_matter(tmp_path):
    raw = "first  line\r\nsecond e\u0301 line\n\n\nthird\tline  end\n"
    whole, whole_text = canonical_of(tmp_path, [raw], "whole.txt")
    # Split everywhere: inside CRLF, inside a combining sequence, inside runs.
    pieces, pieces_text = canonical_of(tmp_path, list(raw), "pieces.txt")

    assert pieces_text == whole_text
    assert pieces.sha256 == whole.sha256


def test_canonicalize_of_no_fragments_is_empty(tmp_path):
    result, written = canonical_of(tmp_path, [])

    assert (written, result.length) == ("", 0)
    assert result.sha256 == hashlib.sha256(b"").hexdigest()


# --- lines ---------------------------------------------------------------------------


def test_lines_reassemble_across_fragments():
    fragments = ["ab", "c\nde", "f\r", "\ng", "", "h\n", "\n", "tail"]

    assert list(lines(fragments)) == ["abc", "def", "gh", "", "tail"]


def test_lines_keep_final_empty_line_after_newline():
    assert list(lines(["a\n"])) == ["a", ""]
    assert list(lines([])) == []


def test_lines_split_cr_alone_as_a_newline():
    assert list(lines(["a\rb\r\nc"])) == ["a", "b", "c"]


def test_long_line_in_small_fragments_is_cut_at_a_space(monkeypatch):
    monkeypatch.setattr(canonical, "MAX_LINE", 50)
    words = [f"word{i:02d}" for i in range(40)]  # 6-letter words, 279 characters
    raw = " ".join(words)

    out = list(lines([raw[i : i + 7] for i in range(0, len(raw), 7)]))

    assert all(len(line) <= 50 for line in out)
    assert "".join(out) == raw
    assert " ".join(part.strip() for part in out).split() == words


@pytest.mark.parametrize("newline", ["", "\n"], ids=["last line", "inside fragment"])
def test_long_line_in_one_fragment_is_bounded(monkeypatch, newline):
    """A single fragment can hold a huge line (a JSON string value, for one)."""
    monkeypatch.setattr(canonical, "MAX_LINE", 50)
    raw = "x" * 500 + newline + "short"

    out = list(lines([raw]))

    assert all(len(line) <= 50 for line in out)
    assert "".join(out) == raw.replace("\n", "")


def test_long_line_without_spaces_is_cut_at_the_limit(monkeypatch):
    monkeypatch.setattr(canonical, "MAX_LINE", 10)

    out = list(lines(["abcdefghij", "klmnopqrst", "uvwxyz"]))

    assert all(len(line) <= 10 for line in out)
    assert "".join(out) == "abcdefghijklmnopqrstuvwxyz"


def test_long_lines_are_cut_the_same_whatever_the_fragments(monkeypatch):
    monkeypatch.setattr(canonical, "MAX_LINE", 40)
    rng = random.Random(7)
    raw = " ".join("w" * rng.randint(1, 12) for _ in range(200))

    whole = list(lines([raw]))
    cuts = sorted(rng.sample(range(1, len(raw)), 30))
    split = list(lines([raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]))

    assert split == whole


# --- chunks ---------------------------------------------------------------------------


def check_pieces(content: str, pieces, *, size: int, overlap: int) -> None:
    """Every property a chunking must have, checked against the source text."""
    assert pieces, "a non-empty text has at least one chunk"
    assert [p.index for p in pieces] == list(range(len(pieces)))
    assert pieces[0].start == 0
    assert pieces[-1].end == len(content)
    for piece in pieces:
        assert piece.text == content[piece.start : piece.end]
        assert 0 < len(piece.text) <= size
    for before, after in itertools.pairwise(pieces):
        assert after.start == before.end - overlap, (before, after)
        assert after.end > before.end


def cut_mid_word(content: str, piece, size: int, overlap: int) -> bool:
    """True when ``piece`` ends inside a word though its last fifth had a usable
    space: one past ``overlap``, so that the next window still moves forward."""
    if piece.end == len(content):
        return False
    lowest = max(size - max(size // 5, 1), overlap, 1)
    tail = content[piece.start + lowest : piece.start + size]
    return any(c in " \n" for c in tail) and content[piece.end - 1] not in " \n"


def chunked(tmp_path, content, *, size, overlap):
    return list(chunks(write(tmp_path, content), size=size, overlap=overlap))


def test_chunks_of_prose_hold_every_property(tmp_path):
    rng = random.Random(1)
    words = ["alpha", "be", "gamma", "delta", "epsilonic", "z", "ünïcödé"]
    paragraphs = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 80))) for _ in range(40)]
    content = "\n\n".join(paragraphs)

    pieces = chunked(tmp_path, content, size=200, overlap=20)

    check_pieces(content, pieces, size=200, overlap=20)
    assert not [p for p in pieces if cut_mid_word(content, p, 200, 20)]


@pytest.mark.parametrize(
    ("size", "overlap"),
    [(1, 0), (2, 1), (5, 0), (5, 4), (10, 3), (10, 8), (10, 9), (37, 11), (100, 0), (100, 99)],
)
@pytest.mark.parametrize("seed", range(4))
def test_chunk_properties_hold_for_any_size_and_overlap(tmp_path, size, overlap, seed):
    rng = random.Random(seed)
    alphabet = "abcdefg  \n"
    content = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 600))).strip() or "x"

    pieces = chunked(tmp_path, content, size=size, overlap=overlap)

    check_pieces(content, pieces, size=size, overlap=overlap)
    assert not [p for p in pieces if cut_mid_word(content, p, size, overlap)]


def test_chunks_split_long_word_at_the_size_limit(tmp_path):
    content = "x" * 95

    pieces = chunked(tmp_path, content, size=40, overlap=10)

    check_pieces(content, pieces, size=40, overlap=10)
    assert [(p.start, p.end) for p in pieces] == [(0, 40), (30, 70), (60, 95)]


def test_chunk_ends_after_space_in_last_fifth(tmp_path):
    content = "a" * 45 + " " + "b" * 60

    first = chunked(tmp_path, content, size=50, overlap=5)[0]

    assert (first.start, first.end) == (0, 46)
    assert first.text.endswith(" ")


def test_chunk_does_not_look_for_spaces_before_the_last_fifth(tmp_path):
    content = "a" * 20 + " " + "b" * 79

    first = chunked(tmp_path, content, size=50, overlap=5)[0]

    assert first.end == 50


def test_chunks_with_zero_overlap_tile_the_text(tmp_path):
    content = " ".join(f"w{i}" for i in range(300))

    pieces = chunked(tmp_path, content, size=64, overlap=0)

    check_pieces(content, pieces, size=64, overlap=0)
    assert "".join(p.text for p in pieces) == content


@pytest.mark.parametrize("content", ["a", "hi there", "x" * 10])
def test_text_no_longer_than_size_is_one_chunk(tmp_path, content):
    [piece] = chunked(tmp_path, content, size=10, overlap=3)

    assert (piece.index, piece.start, piece.end, piece.text) == (0, 0, len(content), content)


def test_empty_text_has_no_chunks(tmp_path):
    assert chunked(tmp_path, "", size=10, overlap=3) == []


def test_chunk_offsets_count_characters_not_bytes(tmp_path):
    content = "é" * 30 + " ☃☃☃ " + "日本語" * 20

    pieces = chunked(tmp_path, content, size=25, overlap=5)

    check_pieces(content, pieces, size=25, overlap=5)


def test_chunks_across_read_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(canonical, "CHUNK_READ_CHARS", 7)
    content = " ".join(f"token{i}" for i in range(500))

    pieces = chunked(tmp_path, content, size=50, overlap=12)

    check_pieces(content, pieces, size=50, overlap=12)
    assert not [p for p in pieces if cut_mid_word(content, p, 50, 12)]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (-5, 0), (10, 10), (10, 11), (10, -1)])
def test_chunks_refuse_invalid_arguments(tmp_path, size, overlap):
    path = write(tmp_path, "some text")

    with pytest.raises(ValueError, match="overlap"):
        list(chunks(path, size=size, overlap=overlap))


def test_canonical_text_is_always_storable(tmp_path):
    # NUL no database text column takes; a lone surrogate (from a JSON
    # "\ud800" escape) has no UTF-8 form at all.
    result, written = canonical_of(tmp_path, ["a\x00b \ud800 c\udfff"])

    assert written == "ab \ufffd c\ufffd"
    assert result.sha256 == hashlib.sha256(written.encode("utf-8")).hexdigest()


def test_a_huge_fragment_is_canonicalized_in_bounded_blocks():
    # A JSON string value can be one fragment of many megabytes; the blocks
    # canonicalized (and the copies made of each) stay about CANONICAL_BLOCK_CHARS long.
    raw = ("word " * 20 + "\r\n") * 50_000

    blocks = list(canonical.line_blocks([raw]))

    assert len(blocks) > 50
    assert max(map(len, blocks)) <= canonical.CANONICAL_BLOCK_CHARS
    assert "\n".join(blocks) == raw.replace("\r\n", "\n")
