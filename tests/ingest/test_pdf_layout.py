"""PDF text as the page reads: each known defect on a real file made
by a real tool, and the documents of known text (tests/truth) read in
order, each word once (word-order similarity to the truth, not the mere
presence of a word)."""

import io
import unicodedata
from pathlib import Path

import pytest

from ingest.pipeline import canonical, readers
from ingest.pipeline.pdf import NO_TEXT
from tests.wordorder import similarity, words

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "pdf"
TRUTH_BOUND = 0.98


def stored(path: Path, tmp_path: Path) -> str:
    """What a job stores for the PDF: extracted, then canonical."""
    with path.open("rb") as raw:
        fragments = readers.extract(
            "pdf", io.BufferedReader(raw), checkpoint=lambda: None, path=path
        )
        return canonical.canonicalize(fragments, tmp_path / "canonical.txt").path.read_text()


def pages(path: Path) -> list[str]:
    with path.open("rb") as raw:
        return list(readers.extract("pdf", raw, checkpoint=lambda: None, path=path))


@pytest.mark.parametrize(
    "name",
    [
        "columns-two",
        "columns-three",
        "columns-right-first",
        "lo-columns",
        "running-headers",
        "headers-drawn-last",
        "tables",
        "figures",
        "captions-drawn-last",
        "lo-text-box",
        "lo-footnotes",
        "rotated-content",
        "turned-90",
        "turned-180",
        "turned-270",
        "right-to-left",
        "form-libreoffice",
        "form-pdflatex",
    ],
)
def test_documents_of_known_text_read_in_order_each_word_once(name, truth_documents, tmp_path):
    document = truth_documents[name]

    text = stored(document.path, tmp_path)

    assert similarity(text, document.truth) >= TRUTH_BOUND, text[:3000]


def test_line_break_hyphens_are_joined_not_stored(tmp_path):
    # pdfTeX hyphenates "adip-iscing" at a line end; PDFium marks it U+FFFE.
    text = stored(CORPUS / "multicolumn.pdf", tmp_path)

    assert "\ufffe" not in text and "\ufffd" not in text
    assert "adipiscing elit" in text
    assert "adip" not in text.replace("adipiscing", "")


def test_text_outside_the_crop_box_is_left_out(tmp_path):
    # Pages 2 and 3 are the halves of one spread, each with the other half
    # still in its content: 2,747 of page 2's 4,159 characters lie off it.
    spread = pages(CORPUS / "reliance.pdf")
    left, right = words(spread[1]), words(spread[2])

    assert " ".join(left).startswith("big achievements follow if you dream big")
    assert " ".join(right).startswith("table of contents corporate overview 2 reliance at a glance")
    assert "table" not in left and "dhirubhai" not in right
    assert left.count("chairman") == 2  # once under each portrait, never twice over
    # A printer's label below the page's edge is no part of the page.
    label = stored(CORPUS / "embedded-images.pdf", tmp_path)
    assert "HANDS-FREE" in label and "ENG_UD71333" not in label


def test_pictures_with_only_off_page_labels_have_no_text_layer():
    with pytest.raises(readers.ExtractionError) as refused:
        pages(CORPUS / "imagemagick-images.pdf")

    assert str(refused.value) == NO_TEXT


def test_turned_pages_read_the_right_way_up(tmp_path):
    # /Rotate 90 on a page whose lines were written bottom-up.
    turned = stored(CORPUS / "rotated-page-90.pdf", tmp_path)
    # A ReportLab overlay drawn from its bottom line up.
    overlay = stored(CORPUS / "reportlab-overlay.pdf", tmp_path)

    assert turned.split("\n\n") == [
        "Hello World Test Text",
        "Second line of text here",
        "Rotated page fixture",
    ]
    assert overlay.split("\n") == [
        "Signed: 12-34-2007T12:34:56",
        "Fingerprint: asdfSa2123",
        "Name: Foo Bar",
    ]


def test_columns_headers_captions_and_boxes_read_where_they_stand(tmp_path):
    # Three columns of a car manual, each whole, left to right.
    manual = stored(CORPUS / "embedded-images.pdf", tmp_path)
    # Korean cards with tables: top left first, each table row by row.
    cards = stored(CORPUS / "korean-text-with-tables.pdf", tmp_path)

    assert manual.index("Hands-free unlocking") < manual.index("Hands-free locking")
    assert manual.index("lights and the indicator lights") < manual.index("Hands-free locking")
    assert manual.index("sounds in confirmation") < manual.index("If the card has been")
    assert cards.startswith("할인점·주유·온라인쇼핑몰\n1.5% 빅포인트 적립")
    assert "할인점\n이마트, 이마트 트레이더스, 롯데마트, 홈플러스\n\n주유\n모든 주유소" in cards
    assert cards.index("주유는 LPG충전소 포함") < cards.index("커피전문점·제과점·편의점")


def test_filled_form_values_are_kept_beside_their_labels(truth_documents, tmp_path):
    text = stored(truth_documents["form-libreoffice"].path, tmp_path)

    assert "First Name Ada Last Name Lovelace" in text
    assert "Birthday 1815-12-10" in text
    assert "Marlow harbour lantern" in text


def test_glyphs_without_text_leave_no_stray_characters(tmp_path):
    # The font maps these glyphs to no text; PDFium reported their numbers.
    text = stored(CORPUS / "habibi.pdf", tmp_path)

    assert "habibi" in text
    assert not {"\u02f4", "\u03f2", "\u0392", "\u03f4"} & set(text)  # the glyph numbers
    assert all(unicodedata.category(char)[0] in "LMZ" or char == "\n" for char in text)


def test_accents_drawn_apart_join_their_letters(tmp_path):
    # pdfTeX with LaTeX's default fonts draws each accent as a glyph of its
    # own over (a cedilla: under) its letter (latex-accents.tex beside it).
    text = " ".join(stored(CORPUS / "latex-accents.pdf", tmp_path).split())
    names = ["Oğuz", "Baudiš", "Šedivý", "Hervé", "Jégou", "László", "Lukács"]
    names += ["Rocktäschel", "São", "Paşca", "hôtel", "Tōkyō", "Pål", "Erdős", "naïve", "Río"]

    assert [text.count(name) for name in names] == [1] * len(names)
    assert [text.index(name) for name in names] == sorted(text.index(name) for name in names)
    assert "Żabki" in text and not set(
        "\u02d8\u02c7\u02c6\u02dc\u00a8\u00af\u02da\u02dd\u00b8\u02d9"
    ) & set(text)
    # An accent set beside the letters, not over one, is text of its own.
    assert "as in don\u00b4t, stays" in text


def test_cuts_within_cuts_stop_at_a_depth_and_read_by_rows():
    from ingest.pipeline.pdf import order
    from ingest.pipeline.pdf.lines import Line
    from ingest.pipeline.pdf.runs import Run

    # Two columns, drawn one after the other: cut when there is depth
    # left, read row by row past it.
    lines = [
        Line([Run(text, (x, y, x + 100.0, y + 10.0), n, n)], False)
        for n, (text, x, y) in enumerate(
            [
                ("left one", 0, 50),
                ("left two", 0, 38),
                ("right one", 200, 50),
                ("right two", 200, 38),
            ]
        )
    ]

    def read(depth: int) -> list[str]:
        return [line.text for group in order._order(lines, depth) for line in group]

    assert read(0) == ["left one", "left two", "right one", "right two"]
    assert read(order.MAX_DEPTH + 1) == ["left one", "right one", "left two", "right two"]
