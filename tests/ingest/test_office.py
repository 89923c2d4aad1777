"""Office documents, e-books and e-mail, made by the real tools at test time
(python-docx, python-pptx, openpyxl, the email package, zipfile) and by
LibreOffice (tests/corpus/office/)."""

import datetime
import io
import tracemalloc
import zipfile
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest
from pptx.util import Inches

from ingest.pipeline.extract import ExtractionError
from ingest.pipeline.office import container_kind, extract_docx, extract_pptx, extract_xlsx

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "office"


class Cancelled(ValueError):
    """A cancel that is also a ValueError, as damaged input often is: it must
    still pass through the extractors untouched."""


def text(extractor, data: bytes, checkpoint=lambda: None) -> str:
    fragments = list(extractor(io.BytesIO(data), checkpoint=checkpoint))
    assert all(isinstance(fragment, str) for fragment in fragments)
    return "".join(fragments)


def saved(document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def counting():
    calls = []
    return calls, lambda: calls.append(1)


def cancel_after(calls: int):
    seen = []

    def checkpoint():
        seen.append(1)
        if len(seen) >= calls:
            raise Cancelled("cancelled")

    return checkpoint


def assert_clean(extracted: str) -> None:
    assert "<" not in extracted
    assert "xmlns" not in extracted


# --- docx ---------------------------------------------------------------------------


def word_document() -> bytes:
    document = docx.Document()
    first = document.sections[0]
    first.header.paragraphs[0].text = "En-tête du rapport"
    first.footer.paragraphs[0].text = "Pied de page 页脚"
    document.add_heading("Résumé annuel", level=1)
    document.add_paragraph("Les crêpes de Noël, 東京 et Zoë.")
    table = document.add_table(rows=2, cols=2)
    for row, (left, right) in zip(
        table.rows, [("Poste", "Montant"), ("Café", "120 €")], strict=True
    ):
        row.cells[0].text, row.cells[1].text = left, right
    paragraph = document.add_paragraph("Après le tableau, ")
    paragraph.add_run("avec un gras").bold = True
    # A second section whose header and footer are linked to the first's: the
    # header text must be given once.
    document.add_section()
    document.add_paragraph("Deuxième section")
    # A third section with a header of its own.
    third = document.add_section()
    third.header.is_linked_to_previous = False
    third.header.paragraphs[0].text = "Annexe"
    document.add_paragraph("Texte de l'annexe")
    return saved(document)


def test_docx_gives_body_in_order_with_tables_headers_and_footers():
    extracted = text(extract_docx, word_document())

    lines = [line for line in extracted.splitlines() if line.strip()]
    assert lines == [
        "En-tête du rapport",
        "Annexe",
        "Résumé annuel",
        "Les crêpes de Noël, 東京 et Zoë.",
        "Poste\tMontant",
        "Café\t120 €",
        "Après le tableau, avec un gras",
        "Deuxième section",
        "Texte de l'annexe",
        "Pied de page 页脚",
    ]
    assert_clean(extracted)


def test_docx_reads_nested_tables_merged_cells_and_line_breaks():
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "Fusionnée"
    table.cell(0, 2).text = "Seule"
    inner = table.cell(1, 0).add_table(rows=1, cols=2)
    inner.cell(0, 0).text, inner.cell(0, 1).text = "dedans", "aussi"
    run = document.add_paragraph().add_run("ligne une")
    run.add_break()
    run.add_text("ligne deux")

    extracted = text(extract_docx, saved(document))

    # A merged cell is given once, not once per grid column it spans.
    assert extracted.count("Fusionnée") == 1
    assert "Fusionnée\tSeule" in extracted
    assert "dedans\taussi" in extracted
    assert "ligne une\nligne deux" in extracted


def test_docx_made_by_libreoffice_gives_header_footer_table_and_footnote():
    extracted = text(extract_docx, (CORPUS / "report.docx").read_bytes())

    for words in [
        "Rapport annuel — en-tête",
        "Résumé des activités",
        "Les crêpes de Noël ont été appréciées.",
        "Café\t120 €",
        "東京の会議は三月に行われました。",
        "Page de pied 页脚",
        "Selon le comité des fêtes.",
    ]:
        assert words in extracted
    assert extracted.index("Résumé") < extracted.index("Café") < extracted.index("東京")
    assert_clean(extracted)


def test_docx_calls_checkpoint_between_blocks():
    document = docx.Document()
    for number in range(50):
        document.add_paragraph(f"paragraphe {number}")
    calls, checkpoint = counting()

    text(extract_docx, saved(document), checkpoint)

    assert len(calls) >= 50


def test_docx_cancel_passes_through_untouched():
    document = docx.Document()
    for number in range(50):
        document.add_paragraph(f"paragraphe {number}")

    with pytest.raises(Cancelled, match="cancelled") as raised:
        text(extract_docx, saved(document), cancel_after(10))

    assert raised.value.__context__ is None


def test_docx_macro_enabled_document_is_read():
    plain = zipfile.ZipFile(io.BytesIO(word_document()))
    members = {info.filename: plain.read(info) for info in plain.infolist()}
    members["[Content_Types].xml"] = members["[Content_Types].xml"].replace(
        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        b"application/vnd.ms-word.document.macroEnabled.main+xml",
    )
    docm = zip_bytes(members)

    assert container_kind(zipfile.ZipFile(io.BytesIO(docm))) == "docx"
    assert "Les crêpes de Noël" in text(extract_docx, docm)


def test_docx_truncated_fails_with_a_sentence():
    data = word_document()

    with pytest.raises(ExtractionError, match="damaged or incomplete") as raised:
        text(extract_docx, data[: len(data) // 2])

    assert "send it again" in str(raised.value)


def test_docx_with_a_damaged_part_fails_with_a_sentence():
    plain = zipfile.ZipFile(io.BytesIO(word_document()))
    members = {info.filename: plain.read(info) for info in plain.infolist()}
    members["word/document.xml"] = members["word/document.xml"][:200]

    with pytest.raises(ExtractionError, match="Word document could not be read; it is damaged"):
        text(extract_docx, zip_bytes(members))


def test_docx_that_is_a_plain_zip_fails_saying_so():
    with pytest.raises(ExtractionError, match="the file is a zip archive, not a Word document"):
        text(extract_docx, zip_bytes({"notes.txt": b"hello"}))


def test_docx_that_is_a_spreadsheet_fails_saying_so():
    with pytest.raises(ExtractionError, match="is an Excel workbook, not a Word document"):
        text(extract_docx, (CORPUS / "budget.xlsx").read_bytes())


def test_docx_with_a_password_fails_saying_so():
    with pytest.raises(ExtractionError, match="protected by a password"):
        text(extract_docx, (CORPUS / "report-password.docx").read_bytes())


def test_legacy_doc_fails_naming_the_format():
    with pytest.raises(ExtractionError, match=r"old binary Office format \(\.doc\)"):
        text(extract_docx, (CORPUS / "report.doc").read_bytes())


# --- pptx ---------------------------------------------------------------------------


def presentation() -> bytes:
    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    first.shapes.title.text = "Première diapositive"
    first.placeholders[1].text_frame.text = "Objectifs de l\u2019année"
    first.notes_slide.notes_text_frame.text = "Parler lentement 慢慢"

    second = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    second.shapes.title.text = "Budget"
    rows = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1.5)).table
    for row, values in zip(rows.rows, [("Poste", "Montant"), ("Café", "120 €")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value

    third = deck.slides.add_slide(deck.slide_layouts[6])  # blank
    group = third.shapes.add_group_shape()
    box = group.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1))
    box.text_frame.text = "Dans un groupe"
    box.text_frame.add_paragraph().text = "東京"
    third.shapes.add_textbox(Inches(1), Inches(4), Inches(4), Inches(1)).text_frame.text = "Fin"
    return saved(deck)


def test_pptx_gives_slides_in_order_with_titles_tables_groups_and_notes():
    extracted = text(extract_pptx, presentation())

    lines = [line for line in extracted.splitlines() if line.strip()]
    assert lines == [
        "Première diapositive",
        "Objectifs de l\u2019année",
        "Parler lentement 慢慢",
        "Budget",
        "Poste\tMontant",
        "Café\t120 €",
        "Dans un groupe",
        "東京",
        "Fin",
    ]
    assert_clean(extracted)


def test_pptx_made_by_libreoffice_gives_slides_and_notes():
    extracted = text(extract_pptx, (CORPUS / "talk.pptx").read_bytes())

    lines = [line for line in extracted.splitlines() if line.strip()]
    assert lines == [
        "Première diapositive",
        "Objectifs de l\u2019année",
        "Parler lentement",
        "Deuxième diapositive 第二",
    ]


def test_pptx_calls_checkpoint_per_slide_and_a_cancel_passes_through():
    calls, checkpoint = counting()
    text(extract_pptx, presentation(), checkpoint)
    assert len(calls) >= 3

    with pytest.raises(Cancelled):
        text(extract_pptx, presentation(), cancel_after(2))


def test_pptx_truncated_fails_with_a_sentence():
    data = presentation()

    with pytest.raises(ExtractionError, match="PowerPoint presentation is damaged or incomplete"):
        text(extract_pptx, data[: len(data) - 100])


def test_pptx_that_is_a_word_document_fails_saying_so():
    with pytest.raises(ExtractionError, match="a Word document, not a PowerPoint presentation"):
        text(extract_pptx, word_document())


# --- xlsx ---------------------------------------------------------------------------


def workbook() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Dépenses"
    sheet.append(["Article", "Prix", "Date"])
    sheet.append(["Thé vert 緑茶", 4.5, datetime.date(2026, 3, 1)])
    sheet.append([])
    sheet.append([None, None, None])
    sheet.append(["Crème brûlée", 12, datetime.datetime(2026, 3, 2, 14, 30)])
    sheet["E40"] = "loin"
    other = book.create_sheet("Notes")
    other.append(["Vérifié par Zoë"])
    return saved(book)


def test_xlsx_gives_each_sheet_named_then_its_rows_without_empty_ones():
    extracted = text(extract_xlsx, workbook())

    assert extracted.splitlines() == [
        "Dépenses",
        "Article\tPrix\tDate",
        "Thé vert 緑茶\t4.5\t2026-03-01",
        "Crème brûlée\t12\t2026-03-02T14:30:00",
        "\t\t\t\tloin",
        "",
        "Notes",
        "Vérifié par Zoë",
        "",
    ]


def test_xlsx_made_by_libreoffice_gives_cached_formula_values():
    extracted = text(extract_xlsx, (CORPUS / "budget.xlsx").read_bytes())

    assert extracted.splitlines() == [
        "Dépenses",
        "Article\tPrix",
        "Thé vert 緑茶\t4.5",
        "Total\t9",
        "",
        "Notes",
        "Vérifié par Zoë",
        "",
    ]


def test_xlsx_with_a_wrong_declared_dimension_still_gives_every_cell():
    plain = zipfile.ZipFile(io.BytesIO(workbook()))
    members = {info.filename: plain.read(info) for info in plain.infolist()}
    sheet = members["xl/worksheets/sheet1.xml"]
    assert b'<dimension ref="A1:E40"/>' in sheet
    members["xl/worksheets/sheet1.xml"] = sheet.replace(b'ref="A1:E40"', b'ref="A1"')

    extracted = text(extract_xlsx, zip_bytes(members))

    assert "Crème brûlée\t12" in extracted
    assert "loin" in extracted


def big_sheet(rows: int) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Mesures")
    for number in range(rows):
        sheet.append([number, number * 0.5, "mesure"])
    return saved(book)


def peak_memory_reading(data: bytes) -> int:
    tracemalloc.start()
    try:
        for _fragment in extract_xlsx(io.BytesIO(data), checkpoint=lambda: None):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_xlsx_memory_does_not_grow_with_the_sheet():
    small, large = big_sheet(500), big_sheet(10_000)

    # Twenty times the rows. openpyxl's write-only mode writes no <dimension>,
    # the case where its own read-only loading parses a sheet whole. The
    # files are made before tracing starts: only the extraction is measured.
    assert peak_memory_reading(large) < 2 * peak_memory_reading(small)


def test_xlsx_calls_checkpoint_between_row_batches_and_a_cancel_passes_through():
    data = big_sheet(2_000)
    calls, checkpoint = counting()
    text(extract_xlsx, data, checkpoint)
    assert len(calls) >= 2_000 // 200

    with pytest.raises(Cancelled):
        text(extract_xlsx, data, cancel_after(3))


def test_xlsx_truncated_fails_with_a_sentence():
    data = big_sheet(2_000)

    with pytest.raises(ExtractionError, match="Excel workbook is damaged or incomplete"):
        text(extract_xlsx, data[:-300])


def test_xlsx_with_a_damaged_sheet_fails_with_a_sentence():
    plain = zipfile.ZipFile(io.BytesIO(workbook()))
    members = {info.filename: plain.read(info) for info in plain.infolist()}
    members["xl/worksheets/sheet1.xml"] = members["xl/worksheets/sheet1.xml"][:700]

    with pytest.raises(ExtractionError, match="Excel workbook could not be read; it is damaged"):
        text(extract_xlsx, zip_bytes(members))
