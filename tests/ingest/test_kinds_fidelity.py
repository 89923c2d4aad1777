"""Office documents, e-mail, XML and HTML as a reader sees them (issue
24): e-mail saved in UTF-16, Word's merged-away table cells, text typed
into PowerPoint's date and slide-number placeholders, flat OpenDocument
files without their markup, table cells written without spaces between
them. Real files from tests/corpus, and files made by python-docx and
python-pptx."""

import io
import zipfile
from pathlib import Path

import docx
import pptx
import pytest

from ingest.pipeline.office import extract_docx, extract_eml, extract_pptx
from tests.wordorder import recall, similarity, words

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def text(extractor, data: bytes) -> str:
    return "".join(extractor(io.BytesIO(data), checkpoint=lambda: None))


@pytest.mark.parametrize(
    "name", ["fake-email-utf-16.eml", "fake-email-utf-16-be.eml", "fake-email-utf-16-le.eml"]
)
def test_utf16_mail_reads_as_the_same_mail_in_utf8(name):
    data = (CORPUS / "mail" / name).read_bytes()
    encoding = (
        "utf-16" if data[:2] == b"\xff\xfe" else ("utf-16-be" if data[0] == 0 else "utf-16-le")
    )
    same_in_utf8 = text(extract_eml, data.decode(encoding).encode("utf-8"))
    # The message as Gmail sent it, in UTF-8 (it differs in its To line only).
    original = text(extract_eml, (CORPUS / "mail" / "fake-email.eml").read_bytes())

    wide = text(extract_eml, data)

    assert wide == same_in_utf8
    assert wide.startswith("Subject: Test Email\nFrom: Matthew Robinson")
    assert wide.split("\n\n", 1)[1] == original.split("\n\n", 1)[1]


def merged_table_document() -> bytes:
    """A table whose first column is merged down three rows, as Word saves
    it when the continuation cells still hold text: Word shows the first
    cell's text across the merge and hides the others'."""
    document = docx.Document()
    document.add_paragraph("Lock keepers by reach")
    table = document.add_table(rows=3, cols=2)
    table.cell(0, 0).text = "Upper reach"
    for row, keeper in enumerate(["Ada", "Bram", "Cora"]):
        table.cell(row, 1).text = keeper
    table.cell(0, 0).merge(table.cell(2, 0))
    for row in (1, 2):
        # Text left behind in a continuation cell, as other producers leave it.
        table.rows[row]._tr.tc_lst[0].p_lst[0].append(_run(f"hidden {row}"))
    document.add_paragraph("End of the register")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _run(value: str):
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    return parse_xml(f"<w:r {nsdecls('w')}><w:t>{value}</w:t></w:r>")


def test_docx_merged_away_cells_are_not_read():
    data = merged_table_document()

    extracted = text(extract_docx, data)

    assert "hidden" not in extracted
    assert (
        similarity(
            extracted, "Lock keepers by reach\nUpper reach Ada\nBram\nCora\nEnd of the register"
        )
        == 1.0
    )


def test_docx_of_word_with_merged_cells_reads_each_cell_once():
    extracted = text(extract_docx, (CORPUS / "office" / "docx-tables.docx").read_bytes())

    assert extracted.count("\ta\t") + extracted.startswith("a\t") <= 1
    assert "Table with merged cells" in extracted


def deck_with_furniture() -> bytes:
    """A slide with a date placeholder the author typed into, and a slide
    number placeholder holding only PowerPoint's field, as PowerPoint
    writes them."""
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Tide tables"
    slide.placeholders[1].text = "Spring tides come twice a month"
    out = io.BytesIO()
    deck.save(out)
    return _with_placeholders(out.getvalue())


PLACEHOLDERS = (
    '<p:sp><p:nvSpPr><p:cNvPr id="90" name="Date"/><p:cNvSpPr/><p:nvPr>'
    '<p:ph type="dt" sz="half" idx="10"/></p:nvPr></p:nvSpPr><p:spPr/>'
    "<p:txBody><a:bodyPr/><a:p><a:r><a:t>Printed for the winter season</a:t></a:r></a:p>"
    "</p:txBody></p:sp>"
    '<p:sp><p:nvSpPr><p:cNvPr id="91" name="Slide Number"/><p:cNvSpPr/><p:nvPr>'
    '<p:ph type="sldNum" sz="quarter" idx="12"/></p:nvPr></p:nvSpPr><p:spPr/>'
    '<p:txBody><a:bodyPr/><a:p><a:fld id="{B6F15528-21DE-4FAA-801E-634DDDAF4B2B}" '
    'type="slidenum"><a:t>7</a:t></a:fld></a:p></p:txBody></p:sp>'
)


def _with_placeholders(data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "ppt/slides/slide1.xml":
                content = content.replace(b"</p:spTree>", PLACEHOLDERS.encode() + b"</p:spTree>")
            target.writestr(item, content)
    return out.getvalue()


def test_pptx_keeps_text_typed_into_placeholders_but_not_their_fields():
    extracted = text(extract_pptx, deck_with_furniture())

    assert (
        similarity(
            extracted, "Tide tables\nSpring tides come twice a month\nPrinted for the winter season"
        )
        == 1.0
    )


def test_pptx_of_powerpoint_keeps_a_typed_date_placeholder():
    data = (CORPUS / "office" / "fake-power-point-malformed.pptx").read_bytes()

    assert text(extract_pptx, data) == "Test Slide\nProblem Date Placeholder\n\n"


@pytest.mark.parametrize(
    ("flat", "packaged", "kind"),
    [
        ("report.fodt", "report.docx", "docx"),
        ("budget.fods", "budget.xlsx", "xlsx"),
        ("talk.fodp", "talk.pptx", "pptx"),
    ],
)
def test_flat_opendocument_reads_as_its_text_not_its_markup(flat, packaged, kind):
    from ingest.pipeline import readers

    path = CORPUS / "office" / flat
    with path.open("rb") as raw:
        detected = readers.detect_file_kind(flat, raw)
        extracted = "".join(readers.extract(detected, raw, checkpoint=lambda: None, path=path))
    with (CORPUS / "office" / packaged).open("rb") as raw:
        # The same document saved by LibreOffice as Office Open XML.
        same = "".join(readers.extract(kind, raw, checkpoint=lambda: None))

    assert detected == "xml"
    assert "<" not in extracted and "xmlns" not in extracted
    # Every word the packaged copy shows, once (headers and notes stand
    # where the flat file keeps them: before the body, inside its paragraph).
    assert recall(extracted, same) == 1.0
    assert len(words(extracted)) - len(words(same)) in (0, 1)  # a footnote mark


def test_html_table_cells_stand_apart_without_spaces_in_the_markup():
    from ingest.pipeline.html import extract_html

    page = (
        "<html><body><table><tr><th>name</th><th>domain</th><th>protocol</th></tr>"
        "<tr><td>udp4</td><td>PF_INET</td><td>IPPROTO_UDP</td></tr></table></body></html>"
    )

    extracted = "".join(extract_html(io.BytesIO(page.encode()), "utf-8", {}))

    assert extracted.split() == ["name", "domain", "protocol", "udp4", "PF_INET", "IPPROTO_UDP"]
