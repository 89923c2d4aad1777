"""What a word is (ingest.search.analyzer) and how a query reads (query)."""

import random

import pytest

from ingest.search import analyzer
from ingest.search.analyzer import Indexed, fold, tokens
from ingest.search.query import parse


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Natásha said \u201cdon\u2019t\u201d", ["natasha", "said", "don", "t"]),
        ("FAÇADE Straße İstanbul", ["facade", "strasse", "istanbul"]),
        ("e-mail state-of-the-art", ["e", "mail", "state", "of", "the", "art"]),
        ("john.doe@Example.ORG", ["john", "doe", "example", "org"]),
        (
            "https://www.gutenberg.org/ebooks/2600",
            ["https", "www", "gutenberg", "org", "ebooks", "2600"],
        ),
        ("3.14 1,000,000 2024-01-05", ["3", "14", "1", "000", "000", "2024", "01", "05"]),
        ("snake_case_name", ["snake", "case", "name"]),
        ("ﬁne \uff21\uff22\uff23\uff11\uff12 ™ Ⅻ", ["fine", "abc12", "tm", "xii"]),
        ("道可道\uff0c非常道。", ["道", "可", "道", "非", "常", "道"]),
        (
            "東京タワーに行きました",
            ["東", "京", "タ", "ワ", "ー", "に", "行", "き", "ま", "し", "た"],
        ),
        ("がぎぐ", ["が", "ぎ", "ぐ"]),  # the voicing mark stays on its kana
        ("학교에서", ["학", "교", "에", "서"]),
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # vowel signs stay inside their word
        ("שָׁלוֹם مَرْحَبًا", ["שלום", "مرحبا"]),  # points dropped
        ("Ελληνικά Русский", ["ελληνικα", "русскии"]),
        ("", []),
        (" \n\t—…", []),
    ],
)
def test_tokens(text, expected):
    assert tokens(text) == expected


def test_a_long_run_is_cut_into_tokens_of_at_most_a_hundred_characters():
    assert [len(t) for t in tokens("x" * 250)] == [100, 100, 50]
    assert [len(t) for t in tokens("é" * 250)] == [100, 100, 50]


def test_a_query_reads_as_the_text_it_matches():
    assert tokens(fold("NATÁSHA")) == tokens("natasha")


def _without_fast_path(text: str) -> bytes:
    """The analyzer's general rule alone (its regular expression)."""
    folded = fold(text)
    if analyzer._HAS_SPLIT.search(folded):
        folded = analyzer._SPLIT.sub(r" \g<0> ", folded)
    return " ".join(analyzer._TOKEN.findall(folded.replace("_", " "))).encode()


def test_the_fast_path_cuts_as_the_general_rule_does():
    # Text of ASCII and of the separators beyond it takes bytes.split; all
    # else the regular expression. Both must give the same tokens.
    alphabet = (
        "abcXYZ019 _-.,;:'\"!?@/\\()[]{}<>\t\n\u201c\u201d\u2018\u2019—\u2013…«»\u00a0\u2009éßﬁ™道"
    )
    rng = random.Random(28)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert analyzer.term_bytes(text) == _without_fast_path(text), repr(text)


def test_the_vector_is_postgresql_binary_tsvector_sorted_by_bytes():
    indexed = Indexed("b A c a ä")
    assert indexed.terms == b"b a c a a"
    assert indexed.vector == b"\x00\x00\x00\x03" + b"a\x00\x00\x00b\x00\x00\x00c\x00\x00\x00"
    assert Indexed("").vector == b"\x00\x00\x00\x00"
    assert Indexed("z é").vector_literal() == "'e' 'z'"


@pytest.mark.parametrize(
    "q, groups",
    [
        ("harbour lights", [((("harbour",), ("lights",)), ())]),
        ('"harbour lights"', [(((("harbour", "lights")),), ())]),
        ("e-mail", [((("e", "mail"),), ())]),
        ("a -b", [((("a",),), (("b",),))]),
        ('a -"b c"', [((("a",),), (("b", "c"),))]),
        ("a b or c", [((("a",), ("b",)), ()), ((("c",),), ())]),
        ("a OR c", [((("a",),), ()), ((("c",),), ())]),
        ('"or"', [((("or",),), ())]),
        ("-a", []),  # nothing wanted: matches nothing
        ("or", []),
        ('"', []),
        ("!!! &|:*", []),
        ('"unclosed phrase', [((("unclosed", "phrase"),), ())]),
    ],
)
def test_query_syntax(q, groups):
    assert [(g.wanted, g.unwanted) for g in parse(q).groups] == groups


def test_a_query_in_each_database_language():
    query = parse('harbour "state of" -night or e-mail -"x y"')
    assert query.tsquery() == "'harbour' & 'state' & 'of' & !'night' | 'e' & 'mail'"
    assert query.phrase_checks() == {
        "plain": False,
        "wanted": [],
        "unwanted": [],
        "groups": [
            "'harbour' & 'state' & 'of' & !'night'\x1e+state of",
            "'e' & 'mail'\x1e+e mail\x1e-x y",
        ],
    }
    assert parse('a "b c" -"d e"').phrase_checks() == {
        "plain": False,
        "wanted": ["% b c %"],
        "unwanted": ["% d e %"],
        "groups": None,
    }
    assert query.match() == '("harbour" AND "state of" NOT "night") OR ("e mail" NOT "x y")'
    assert parse("plain words").phrase_checks()["plain"]
    assert query.words() == {"harbour", "state", "of", "e", "mail"}
