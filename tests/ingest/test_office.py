"""Office documents, e-books and e-mail, made by the real tools at test time
(python-docx, python-pptx, openpyxl, the email package, zipfile) and by
LibreOffice (tests/corpus/office/)."""

import datetime
import io
import tracemalloc
import zipfile
from email.message import EmailMessage
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest
from pptx.util import Inches

from ingest.pipeline.office import (
    container_kind,
    eml_attachments,
    extract_docx,
    extract_eml,
    extract_epub,
    extract_pptx,
    extract_xlsx,
)
from ingest.pipeline.readers import ExtractionError

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
    # As the page shows them: the footnote above the footer.
    assert extracted.index("Selon le comité") < extracted.index("Page de pied")
    assert_clean(extracted)


def long_document(paragraphs: int) -> bytes:
    document = docx.Document()
    for number in range(paragraphs):
        document.add_paragraph(f"paragraphe numéro {number} du rapport")
    return saved(document)


def test_docx_memory_does_not_grow_with_the_document():
    small, large = long_document(300), long_document(6_000)

    assert peak_memory_reading(extract_docx, large) < 2 * peak_memory_reading(extract_docx, small)


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


def test_pptx_reads_the_choice_of_alternate_content_not_its_fallback():
    members = members_of(presentation())
    slide = members["ppt/slides/slide3.xml"].decode()
    start = slide.index("<p:grpSp>")
    end = slide.index("</p:grpSp>") + len("</p:grpSp>")
    group = slide[start:end]
    fallback = group.replace("Dans un groupe", "Copie pour les vieux lecteurs")
    wrapped = (
        '<mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
        f'<mc:Choice Requires="p14">{group}</mc:Choice><mc:Fallback>{fallback}</mc:Fallback>'
        "</mc:AlternateContent>"
    )
    members["ppt/slides/slide3.xml"] = (slide[:start] + wrapped + slide[end:]).encode()

    extracted = text(extract_pptx, zip_bytes(members))

    assert "Dans un groupe" in extracted
    assert "vieux lecteurs" not in extracted


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


def peak_memory_reading(extractor, data: bytes) -> int:
    tracemalloc.start()
    try:
        for _fragment in extractor(io.BytesIO(data), checkpoint=lambda: None):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_xlsx_memory_does_not_grow_with_the_sheet():
    small, large = big_sheet(500), big_sheet(10_000)

    # Twenty times the rows. openpyxl's write-only mode writes no <dimension>,
    # the case where its own read-only loading parses a sheet whole. The
    # files are made before tracing starts: only the extraction is measured.
    assert peak_memory_reading(extract_xlsx, large) < 2 * peak_memory_reading(extract_xlsx, small)


def test_xlsx_calls_checkpoint_between_batches_of_cells_and_a_cancel_passes_through():
    data = big_sheet(2_000)
    calls, checkpoint = counting()
    text(extract_xlsx, data, checkpoint)
    assert len(calls) >= 2_000 * 3 // 1_000

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


# --- epub ---------------------------------------------------------------------------

CONTAINER_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>"""


def chapter(title: str, body: str, encoding: str = "utf-8") -> bytes:
    return f"""<?xml version="1.0" encoding="{encoding}"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>{title}</title><style>p {{ color: red; }}</style></head>
<body><section epub:type="chapter"><h1>{title}</h1>{body}
<script>var hidden = "<b>script text</b>";</script></section></body>
</html>""".encode(encoding)


def opf(spine: list[str], manifest: dict[str, str]) -> bytes:
    items = "".join(
        f'<item id="{item}" href="{href}" media-type="application/xhtml+xml"/>'
        for item, href in manifest.items()
    )
    refs = "".join(f'<itemref idref="{item}"/>' for item in spine)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="id">urn:uuid:0f0e0d0c-0b0a-0908-0706-050403020100</dc:identifier>
    <dc:title>Les Misérables — 悲慘世界</dc:title>
    <dc:creator>Victor Hugo</dc:creator>
    <dc:language>fr</dc:language>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    {items}
  </manifest>
  <spine>{refs}</spine>
</package>""".encode()


def epub_book(extra: dict[str, bytes] | None = None, **opf_members) -> bytes:
    """An EPUB 3 as readers expect it: mimetype first and stored, the
    container, the package document, a navigation document, the chapters."""
    manifest = {"c2": "text/ch%C3%A02.xhtml", "c1": "text/ch1.xhtml"}
    members = {
        "META-INF/container.xml": CONTAINER_XML,
        "OEBPS/content.opf": opf(["c1", "c2"], manifest),
        "OEBPS/nav.xhtml": chapter("Table des matières", "<nav><ol><li>Fantine</li></ol></nav>"),
        "OEBPS/text/ch1.xhtml": chapter("Fantine", "<p>Monseigneur Myriel était évêque.</p>"),
        # Latin-1, as its XML declaration says; the CJK as character references.
        "OEBPS/text/chà2.xhtml": chapter(
            "Cosette",
            "<p>Jean Valjean &amp; les Thénardier, &#29634;&#36187;&#29305;</p>",
            encoding="iso-8859-1",
        ),
        **(extra or {}),
        **opf_members,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip")
        for name, data in members.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_epub_gives_title_then_the_spine_in_order_as_visible_text():
    extracted = text(extract_epub, epub_book())

    lines = [line.strip() for line in extracted.splitlines() if line.strip()]
    assert lines == [
        "Les Misérables — 悲慘世界",
        "Victor Hugo",
        "Fantine",
        "Monseigneur Myriel était évêque.",
        "Cosette",
        "Jean Valjean & les Thénardier, 珂赛特",
    ]
    assert "script text" not in extracted
    assert "color" not in extracted
    assert "Table des matières" not in extracted  # the nav is not in the spine
    assert_clean(extracted)


def test_epub_follows_the_spine_not_the_manifest_or_zip_order():
    manifest = {"c2": "text/ch%C3%A02.xhtml", "c1": "text/ch1.xhtml"}
    book = epub_book(**{"OEBPS/content.opf": opf(["c2", "c1"], manifest)})

    extracted = text(extract_epub, book)

    assert extracted.index("Cosette") < extracted.index("Fantine")


def test_epub_is_recognised_by_its_mimetype_member():
    assert container_kind(zipfile.ZipFile(io.BytesIO(epub_book()))) == "epub"


def test_epub_calls_checkpoint_per_chapter_and_a_cancel_passes_through():
    calls, checkpoint = counting()
    text(extract_epub, epub_book(), checkpoint)
    assert len(calls) >= 2

    with pytest.raises(Cancelled):
        text(extract_epub, epub_book(), cancel_after(1))


def test_epub_with_a_missing_chapter_fails_naming_it():
    plain = zipfile.ZipFile(io.BytesIO(epub_book()))
    members = {i.filename: plain.read(i) for i in plain.infolist() if "ch1" not in i.filename}

    with pytest.raises(
        ExtractionError, match=r"chapter OEBPS/text/ch1\.xhtml is listed but missing"
    ):
        text(extract_epub, zip_bytes(members))


def test_epub_without_its_container_file_fails_with_a_sentence():
    plain = zipfile.ZipFile(io.BytesIO(epub_book()))
    members = {i.filename: plain.read(i) for i in plain.infolist() if "META-INF" not in i.filename}

    with pytest.raises(ExtractionError, match=r"META-INF/container.xml\) is missing"):
        text(extract_epub, zip_bytes(members))


def test_epub_with_encrypted_chapters_fails_saying_drm():
    encryption = b"""<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
            xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <enc:EncryptedData>
    <enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
    <enc:CipherData><enc:CipherReference URI="OEBPS/text/ch1.xhtml"/></enc:CipherData>
  </enc:EncryptedData>
</encryption>"""

    with pytest.raises(ExtractionError, match="protected by DRM"):
        text(extract_epub, epub_book({"META-INF/encryption.xml": encryption}))


def test_epub_with_obfuscated_fonts_only_is_read():
    encryption = b"""<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
            xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <enc:EncryptedData>
    <enc:EncryptionMethod Algorithm="http://www.idpf.org/2008/embedding"/>
    <enc:CipherData><enc:CipherReference URI="OEBPS/fonts/serif.otf"/></enc:CipherData>
  </enc:EncryptedData>
</encryption>"""

    extracted = text(extract_epub, epub_book({"META-INF/encryption.xml": encryption}))

    assert "Monseigneur Myriel" in extracted


def test_epub_truncated_fails_with_a_sentence():
    data = epub_book()

    with pytest.raises(ExtractionError, match="EPUB book is damaged or incomplete"):
        text(extract_epub, data[: len(data) // 2])


# --- eml ----------------------------------------------------------------------------


def mail(*, html: bool = False) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Réunion à Zürich — 会議"
    message["From"] = "Zoë Ünal <zoe@example.org>"
    message["To"] = "José <jose@example.org>, 山田 <yamada@example.jp>"
    message["Date"] = "Mon, 30 Nov 2026 09:15:00 +0100"
    body = "Bonjour José,\nle café est à 10 h, près de la gare.\n"
    # Latin-1 in quoted-printable, as many mailers still send.
    message.set_content(body, charset="iso-8859-1", cte="quoted-printable")
    if html:
        message.add_alternative(
            "<html><head><style>p {color: red}</style></head><body><p>Bonjour "
            "<b>José</b></p><script>alert('x')</script></body></html>",
            subtype="html",
        )
    return message


def test_eml_gives_decoded_headers_then_the_plain_body():
    message = mail(html=True)
    data = message.as_bytes()
    assert b"=E9" in data  # the body is sent as quoted-printable Latin-1
    assert b"=?utf-8?" in data  # and the headers as RFC 2047 encoded words

    extracted = text(extract_eml, data)

    assert extracted.splitlines()[:5] == [
        "Subject: Réunion à Zürich — 会議",
        "From: Zoë Ünal <zoe@example.org>",
        "To: José <jose@example.org>, 山田 <yamada@example.jp>",
        "Date: Mon, 30 Nov 2026 09:15:00 +0100",
        "",
    ]
    assert "le café est à 10 h, près de la gare." in extracted
    assert "<" not in extracted.split("\n\n", 1)[1]


def test_eml_with_only_html_gives_its_visible_text():
    message = EmailMessage()
    message["Subject"] = "Lettre"
    message["From"] = "a@example.org"
    message.set_content(
        "<html><head><title>t</title><style>p {color: red}</style></head>"
        "<body><p>Chère Zoë, 你好</p><script>alert('x')</script></body></html>",
        subtype="html",
        charset="utf-8",
    )

    extracted = text(extract_eml, message.as_bytes())

    assert "Chère Zoë, 你好" in extracted
    assert "alert" not in extracted
    assert "color" not in extracted
    assert_clean(extracted)


def test_eml_that_has_no_headers_fails_saying_it_is_not_an_email():
    with pytest.raises(ExtractionError, match="not an e-mail message"):
        text(extract_eml, b"")


def test_eml_attachments_give_decoded_names_types_and_bytes():
    message = mail(html=True)
    word = word_document()
    message.add_attachment(
        word,
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="Résumé été.docx",
    )
    message.add_attachment(
        "Notes de réunion".encode("cp1252"), "text", "plain", filename="../../notes.txt"
    )
    forwarded = EmailMessage()
    forwarded["Subject"] = "Transféré"
    forwarded.set_content("Texte transféré")
    message.add_attachment(forwarded)
    data = message.as_bytes()
    assert "Résumé".encode() not in data.split(b"\n\n", 1)[0]

    attachments = list(eml_attachments(io.BytesIO(data)))

    assert [(a.name, a.content_type) for a in attachments] == [
        (
            "Résumé été.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("notes.txt", "text/plain"),
        ("attachment-3.eml", "message/rfc822"),
    ]
    assert attachments[0].payload == word
    assert "Les crêpes de Noël" in text(extract_docx, attachments[0].payload)
    assert attachments[1].payload == "Notes de réunion".encode("cp1252")
    assert "Texte transféré" in text(extract_eml, attachments[2].payload)
    # The body is not an attachment, and attachments do not leak into it.
    extracted = text(extract_eml, data)
    assert "Notes de réunion" not in extracted
    assert "Texte transféré" not in extracted


def test_eml_attachments_of_a_message_without_any_are_none():
    assert list(eml_attachments(io.BytesIO(mail(html=True).as_bytes()))) == []


def test_eml_with_an_unknown_charset_is_read_as_utf8():
    data = (
        b"Subject: =?x-unknown?q?Caf=C3=A9?=\r\nFrom: a@example.org\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\ncaf\xc3\xa9 cr\xc3\xa8me\r\n"
    )

    extracted = text(extract_eml, data)

    assert "café crème" in extracted


# --- container_kind -----------------------------------------------------------------


def members_of(data: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {info.filename: archive.read(info) for info in archive.infolist()}


@pytest.mark.parametrize(
    ("made", "kind"),
    [
        (word_document, "docx"),
        (presentation, "pptx"),
        (workbook, "xlsx"),
        (epub_book, "epub"),
        (lambda: (CORPUS / "report.docx").read_bytes(), "docx"),
        (lambda: (CORPUS / "talk.pptx").read_bytes(), "pptx"),
        (lambda: (CORPUS / "budget.xlsx").read_bytes(), "xlsx"),
        (lambda: zip_bytes({"notes.txt": b"hello", "data.json": b"{}"}), None),
        # OpenDocument has a mimetype member too, of its own.
        (lambda: zip_bytes({"mimetype": b"application/vnd.oasis.opendocument.text"}), None),
    ],
)
def test_container_kind_reads_the_main_content_type(made, kind):
    assert container_kind(zipfile.ZipFile(io.BytesIO(made()))) == kind


def test_container_kind_knows_an_office_file_without_content_types_by_its_main_part():
    members = members_of(word_document())
    del members["[Content_Types].xml"]
    damaged = zip_bytes(members)

    assert container_kind(zipfile.ZipFile(io.BytesIO(damaged))) == "docx"
    # The text is still there to read: the file is read, not refused.
    assert "Les crêpes de Noël" in text(extract_docx, damaged)


def test_container_kind_leaves_binary_workbooks_to_the_archive_reader():
    members = members_of(workbook())
    members["[Content_Types].xml"] = members["[Content_Types].xml"].replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.binary.macroEnabled.main",
    )
    del members["xl/workbook.xml"]

    assert container_kind(zipfile.ZipFile(io.BytesIO(zip_bytes(members)))) is None


def test_container_expanding_past_the_limit_is_refused_before_it_is_read(monkeypatch):
    from ingest.pipeline.office import container

    data = word_document()
    expanded = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    monkeypatch.setattr(container, "MAX_EXPANDED_BYTES", expanded - 1)

    with pytest.raises(ExtractionError, match=r"would expand to \d+ MiB, over the"):
        text(extract_docx, data)
