"""Every kind a user uploads, made by a real tool, through the API and a real
rqworker: the job finishes, each file's chunks hold the words that must be
there (accents, CJK) and none of the markup that must not (``<script``,
``xmlns``). Damaged, encrypted and empty files fail alone, with a sentence.
"""

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingest.models import Chunk, IngestFile
from tests.conftest import wait_for
from tests.e2e.helpers import create_job, finished, job_url

pytestmark = [pytest.mark.e2e]

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ACCENTS = "Grüße aus Köln, naïve café, déjà vu"
CJK = "東京の天気は晴れです"
MARKUP = ("<script", "xmlns", "<w:", "<a:", "<?xml", "<style", "<!--")


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def run_job(api, project, start_worker, files, **worker_env) -> dict:
    job_id = create_job(api, project, files, chunk_size=400, chunk_overlap=0)
    worker = start_worker(**worker_env)
    job = wait_for(lambda: finished(job_id), timeout=180, message="job to finish")
    assert job.status == "completed", (job.error, worker.output())
    body = api.get(job_url(project, job_id)).json()
    return {f["name"]: f for f in body["result"]["files"]}


def text_of(document_id: str) -> str:
    chunks = Chunk.objects.filter(document_id=document_id).order_by("index")
    return "".join(chunks.values_list("text", flat=True))


def assert_clean(text: str, *words: str) -> None:
    for word in words:
        assert word in text, (word, text[:2000])
    for markup in MARKUP:
        assert markup not in text, (markup, text[:2000])


# --- made by real tools at test time --------------------------------------------------


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Quarterly header"
    document.add_heading("Rapport annuel", level=1)
    document.add_paragraph(f"{ACCENTS}. {CJK}.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Région", "Chiffre"
    table.cell(1, 0).text, table.cell(1, 1).text = "Île-de-France", "42"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_bytes() -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for number, (title, body) in enumerate([("Première diapo", ACCENTS), ("第二", CJK)], 1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        slide.notes_slide.notes_text_frame.text = f"speaker note {number}"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Ventes"
    sheet.append(["Ville", "Montant"])
    sheet.append(["Zürich", 1200])
    sheet.append([CJK, 3.5])
    book.create_sheet("Notes").append([ACCENTS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def epub_bytes() -> bytes:
    """An EPUB 3 as readers expect it: ``mimetype`` first and stored, the
    container pointing at the package, the spine in reading order."""
    chapter = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title>'
        "<style>p {{ color: red }}</style><script>var hidden = 1;</script></head>"
        "<body><h1>{title}</h1><p>{body}</p></body></html>"
    )
    package = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<dc:identifier id="id">urn:uuid:0b7e0c52-1f3b-4b8e-9a57-3e1a2f0c9d11</dc:identifier>'
        "<dc:title>Livre d'essai</dc:title><dc:language>fr</dc:language>"
        '<meta property="dcterms:modified">2026-01-01T00:00:00Z</meta></metadata>'
        '<manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" '
        'properties="nav"/>'
        '<item id="c1" href="one.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="c2" href="two.xhtml" media-type="application/xhtml+xml"/></manifest>'
        '<spine><itemref idref="c2"/><itemref idref="c1"/></spine></package>'
    )
    nav = (
        '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml" '
        'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>nav</title></head><body>'
        '<nav epub:type="toc"><ol><li><a href="two.xhtml">Deux</a></li>'
        '<li><a href="one.xhtml">Un</a></li></ol></nav></body></html>'
    )
    container = (
        '<?xml version="1.0"?>\n<container version="1.0" '
        'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
        '<rootfile full-path="OEBPS/book.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")  # stored
        book.writestr("META-INF/container.xml", container)
        book.writestr("OEBPS/book.opf", package)
        book.writestr("OEBPS/nav.xhtml", nav)
        book.writestr("OEBPS/one.xhtml", chapter.format(title="Chapitre un", body=ACCENTS))
        book.writestr("OEBPS/two.xhtml", chapter.format(title="第二章", body=CJK))
    return out.getvalue()


def eml_bytes() -> bytes:
    message = EmailMessage()
    message["From"] = "Zoë Martín <zoe@example.org>"
    message["To"] = "équipe@example.org"
    message["Subject"] = "Réunion de jeudi — 会議"
    message["Date"] = "Thu, 05 Nov 2026 10:00:00 +0100"
    message.set_content(f"Bonjour,\n\n{ACCENTS}.\n{CJK}.\n")
    message.add_alternative(
        f"<html><body><p>{ACCENTS}</p><script>x()</script></body></html>", subtype="html"
    )
    message.add_attachment(
        docx_bytes(),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="rapport.docx",
    )
    message.add_attachment(
        "Ville;Montant\nZürich;1200\n".encode("cp1252"),
        maintype="text",
        subtype="csv",
        filename="ventes.csv",
    )
    message.add_attachment(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        maintype="image",
        subtype="png",
        filename="logo.png",
    )
    return message.as_bytes()


def printed_pdf(browser) -> bytes:
    """Chromium's own print-to-PDF of a page with accents, CJK and a script."""
    page = browser.new_page()
    try:
        page.set_content(
            "<html><head><meta charset='utf-8'><script>document.title='x'</script></head>"
            f"<body><h1>Imprimé par Chromium</h1><p>{ACCENTS}</p>"
            "<p style='page-break-before: always'>Deuxième page</p></body></html>"
        )
        return page.pdf(format="A4")
    finally:
        page.close()


# --- the tests --------------------------------------------------------------------------


def test_office_books_and_mail_become_documents(api, project, start_worker):
    files = [
        upload("report.docx", docx_bytes()),
        upload("deck.pptx", pptx_bytes()),
        upload("sheet.xlsx", xlsx_bytes()),
        upload("book.epub", epub_bytes()),
        upload("message.eml", eml_bytes()),
        upload("libreoffice.docx", (CORPUS / "office" / "report.docx").read_bytes()),
    ]

    results = run_job(api, project, start_worker, files)

    assert {name: r["kind"] for name, r in results.items()} == {
        "report.docx": "docx",
        "deck.pptx": "pptx",
        "sheet.xlsx": "xlsx",
        "book.epub": "epub",
        "message.eml": "eml",
        "libreoffice.docx": "docx",
    }
    for name, result in results.items():
        assert result["status"] == "done", (name, result)
    assert_clean(
        text_of(results["report.docx"]["document"]),
        "Quarterly header",
        "Rapport annuel",
        ACCENTS,
        CJK,
        "Île-de-France",
    )
    # LibreOffice's document, as its page reads: the footnote above the footer, each once.
    word = text_of(results["libreoffice.docx"]["document"])
    assert_clean(word, "Résumé des activités", "Selon le comité des fêtes.", "Page de pied 页脚")
    assert word.index("Résumé") < word.index("Selon le comité") < word.index("Page de pied")
    assert word.count("Selon le comité") == word.count("Page de pied") == 1
    deck = text_of(results["deck.pptx"]["document"])
    assert_clean(deck, "Première diapo", ACCENTS, CJK, "speaker note 2")
    assert deck.index("Première diapo") < deck.index("第二")
    assert_clean(
        text_of(results["sheet.xlsx"]["document"]), "Ventes", "Zürich", "1200", CJK, ACCENTS
    )
    book = text_of(results["book.epub"]["document"])
    assert_clean(book, "第二章", CJK, "Chapitre un", ACCENTS)
    assert book.index(CJK) < book.index(ACCENTS)  # the spine's order, not the manifest's
    assert "hidden" not in book

    mail = results["message.eml"]
    assert_clean(text_of(mail["document"]), "Réunion de jeudi", "Zoë Martín", ACCENTS, CJK)
    attachments = {m["name"]: m for m in mail["members"]}
    assert attachments["rapport.docx"]["status"] == "duplicate"  # the same text as report.docx
    assert attachments["rapport.docx"]["document"] == results["report.docx"]["document"]
    assert attachments["ventes.csv"]["status"] == "done"
    assert attachments["ventes.csv"]["encoding"] == "cp1252"
    assert "Zürich, 1200" in text_of(attachments["ventes.csv"]["document"])
    assert attachments["logo.png"]["status"] == "skipped"
    assert "not supported" in attachments["logo.png"]["error"]


def test_pdfs_of_real_producers_and_chromium_become_documents(api, project, start_worker, browser):
    names = ["minimal-document.pdf", "google-doc-document.pdf", "crazyones-pdfa.pdf"]
    files = [upload(name, (CORPUS / "pdf" / name).read_bytes()) for name in names]
    files.append(upload("printed.pdf", printed_pdf(browser)))

    results = run_job(api, project, start_worker, files)

    for name, result in results.items():
        assert (result["status"], result["kind"]) == ("done", "pdf"), (name, result)
    assert results["printed.pdf"]["pages"] == 2
    printed = text_of(results["printed.pdf"]["document"])
    assert_clean(printed, "Imprimé par Chromium", ACCENTS, "Deuxième page")
    assert "document.title" not in printed
    assert "Beautiful is better than ugly." in text_of(
        results["google-doc-document.pdf"]["document"]
    )
    assert results["minimal-document.pdf"]["pages"] == 1


def test_text_in_any_encoding_and_tables_and_json_become_documents(api, project, start_worker):
    gpl = Path("/usr/share/common-licenses/GPL-3").read_bytes()
    files = [
        upload("LICENSE", gpl),
        upload("notes-utf16.txt", f"{ACCENTS}\n{CJK}\n".encode("utf-16-le")),
        upload("notes-utf32.txt", f"{ACCENTS} — utf-32\n".encode("utf-32")),
        upload("legacy.txt", (f"{ACCENTS}. " * 30).encode("cp1252")),
        upload("japanese.txt", (f"{CJK}。日本語のテキストです。" * 20).encode("shift_jis")),
        upload("guide.rst", "Guide\n=====\n\nCafé *crème*.\n".encode()),
        upload("todo.org", "* TODO Réviser\n** DONE Écrire\n".encode()),
        upload("server.log", b"2026-11-30 03:00:01 INFO worker started\n"),
        upload(
            "page.html",
            (
                "<html><head><meta charset='windows-1252'><title>Titre</title>"
                "<script>var secret=1;</script></head>"
                f"<body><!-- hidden --><p>{ACCENTS}</p></body></html>"
            ).encode("cp1252"),
        ),
        upload("semicolons.csv", "Ville;Montant\nZürich;1200\n".encode()),
        upload("tabs.tsv", b"name\tnote\nada\t" + b"long " * 40_000 + b"\n"),
        upload("data.json", '{"titre": "Études", "villes": ["Zürich", "東京"]}'.encode()),
        upload("rows.ndjson", b'{"n": 1, "ville": "Lyon"}\n{"n": 2, "ville": "Nantes"}\n'),
        upload("rows.jsonl", b'{"event": "login"}\n'),
    ]

    results = run_job(api, project, start_worker, files)

    for name, result in results.items():
        assert result["status"] == "done", (name, result)
    assert text_of(results["LICENSE"]["document"]).startswith("GNU GENERAL PUBLIC LICENSE")
    assert results["notes-utf16.txt"]["encoding"] == "utf-16-le"
    assert_clean(text_of(results["notes-utf16.txt"]["document"]), ACCENTS, CJK)
    assert results["notes-utf32.txt"]["encoding"] == "utf-32"
    assert results["legacy.txt"]["encoding"] == "cp1252"
    assert ACCENTS in text_of(results["legacy.txt"]["document"])
    assert CJK in text_of(results["japanese.txt"]["document"])
    assert "Café *crème*." in text_of(results["guide.rst"]["document"])
    assert "DONE Écrire" in text_of(results["todo.org"]["document"])
    html = text_of(results["page.html"]["document"])
    assert html == ACCENTS
    assert results["page.html"]["encoding"] == "cp1252"
    assert "Zürich, 1200" in text_of(results["semicolons.csv"]["document"])
    assert results["tabs.tsv"]["kind"] == "tsv"
    assert "ada, long long" in text_of(results["tabs.tsv"]["document"])
    assert "villes: 東京" in text_of(results["data.json"]["document"])
    assert "ville: Nantes" in text_of(results["rows.ndjson"]["document"])


def test_damaged_encrypted_and_empty_files_fail_alone_with_a_sentence(api, project, start_worker):
    docx = docx_bytes()
    files = [
        upload("fine.txt", b"This one is fine."),
        upload("scan.pdf", (CORPUS / "pdf" / "grayscale-image.pdf").read_bytes()),
        upload("locked.pdf", (CORPUS / "pdf" / "libreoffice-writer-password.pdf").read_bytes()),
        upload("truncated.pdf", (CORPUS / "pdf" / "minimal-document.pdf").read_bytes()[:3000]),
        upload("cut.docx", docx[: len(docx) // 2]),
        upload("blank.txt", b"   \n\n  \t\n"),
        upload("broken.json", b'{"a": [1, 2'),
        upload("bundle.zip", _zip({"inner.docx": docx, "locked.docx": _password_docx()})),
    ]

    results = run_job(api, project, start_worker, files)

    assert results["fine.txt"]["status"] == "done"
    failed = {name: r["error"] for name, r in results.items() if r["status"] == "failed"}
    assert "no text layer" in failed["scan.pdf"]
    assert "password" in failed["locked.pdf"]
    assert "PDF" in failed["truncated.pdf"]
    assert "cut.docx" in failed and failed["cut.docx"].endswith(".")
    assert "no text" in failed["blank.txt"]
    assert "JSON" in failed["broken.json"]
    members = {m["name"]: m for m in results["bundle.zip"]["members"]}
    assert members["inner.docx"]["status"] == "done"
    assert members["inner.docx"]["kind"] == "docx"
    assert members["locked.docx"]["status"] == "failed"
    assert "password" in members["locked.docx"]["error"]
    # Nothing half-written: failed files have no document.
    for name in failed:
        assert not IngestFile.objects.get(name=name).sources.exists()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _password_docx() -> bytes:
    return (CORPUS / "office" / "report-password.docx").read_bytes()


def test_zips_of_a_job_count_together_toward_the_total_limit(api, project, start_worker, settings):
    """Two zips that each fit, but not together: the second fails naming the limit."""
    member = b"x " * 20_000  # 40 000 bytes, compressed to almost nothing
    settings.INGEST_MAX_TOTAL_BYTES = 100_000
    files = [
        upload("first.zip", _zip({"a.txt": member})),
        upload("second.zip", _zip({"b.txt": member + b"y", "c.txt": member + b"z"})),
        upload("after.txt", b"still read"),
    ]

    results = run_job(api, project, start_worker, files, INGEST_MAX_TOTAL_BYTES="100000")

    assert results["first.zip"]["status"] == "done"
    assert results["second.zip"]["status"] == "failed"
    assert "INGEST_MAX_TOTAL_BYTES" in results["second.zip"]["error"]
    assert "100000" in results["second.zip"]["error"]
    assert results["after.txt"]["status"] == "done"
