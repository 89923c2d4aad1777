"""Every kind, through the API and a real rqworker, stored as it reads: the
stored chunks of each file, joined, read like the file's known text (its
words in order, each once), and hold no U+FFFE, U+FFFD or markup.

The PDFs are the documents of known text (tests/truth, Chromium and
LibreOffice); the other files are made here by python-docx, python-pptx,
openpyxl and the email package, or come from tests/corpus.
"""

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.e2e.test_kinds_e2e import epub_bytes, run_job, text_of, upload
from tests.truth.prose import paragraphs, sentences
from tests.wordorder import similarity

pytestmark = [pytest.mark.e2e]

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
BOUND = 0.98
RESIDUE = ("\ufffe", "\ufffd", "<script", "xmlns", "<w:", "<a:", "<?xml", "<style", "<!--")
PDFS = (
    "columns-right-first",
    "headers-drawn-last",
    "captions-drawn-last",
    "tables",
    "lo-columns",
    "turned-180",
    "rotated-content",
    "right-to-left",
    "form-libreoffice",
)


def docx_file() -> tuple[bytes, str]:
    import docx

    body, rows = paragraphs(101, 3), [sentences(102 + i, 3, words=(2, 3)) for i in range(3)]
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Harbour board minutes"
    for text in body[:2]:
        document.add_paragraph(text)
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            table.cell(r, c).text = cell
    document.add_paragraph(body[2])
    document.sections[0].footer.paragraphs[0].text = "Kept at the harbour office"
    out = io.BytesIO()
    document.save(out)
    truth = ["Harbour board minutes", *body[:2], *(" ".join(row) for row in rows), body[2]]
    return out.getvalue(), "\n".join([*truth, "Kept at the harbour office"])


def pptx_file() -> tuple[bytes, str]:
    from pptx import Presentation

    deck, truth = Presentation(), []
    for number in range(3):
        title, body = f"Tide chart {number + 1}", sentences(110 + number, 2)
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = "\n".join(body)
        slide.notes_slide.notes_text_frame.text = f"Say the tide chart {number + 1} slowly"
        truth += [title, *body, f"Say the tide chart {number + 1} slowly"]
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue(), "\n".join(truth)


def xlsx_file() -> tuple[bytes, str]:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Soundings"
    rows = [["Buoy", "Depth", "Bottom"], ["North", 12, "sand"], ["South", 7.5, "shingle"]]
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), "Soundings\n" + "\n".join(" ".join(map(str, row)) for row in rows)


def text_files() -> dict[str, tuple[bytes, str]]:
    prose = "\n\n".join(paragraphs(120, 3))
    rows = [["lamp", "keeper", "season"], ["North", "Ada", "winter"], ["South", "Bram", "spring"]]
    table = io.StringIO()
    csv.writer(table, delimiter=";").writerows(rows)
    record = {"station": "North", "lamps": [{"colour": "red"}, {"colour": "white"}]}
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Lamps</title><style>p{}</style>"
        f"<script>var x;</script></head><body><h1>Lamps</h1><!-- note --><p>{prose}</p></body></html>"
    )
    return {
        "notes.txt": (prose.encode("utf-16"), prose),
        "notes.md": (f"# Lamps\n\n{prose}\n".encode(), f"Lamps\n{prose}"),
        "lamps.csv": (table.getvalue().encode("cp1252"), "\n".join(" ".join(r) for r in rows)),
        "lamps.tsv": (
            "\n".join("\t".join(r) for r in rows).encode(),
            "\n".join(" ".join(r) for r in rows),
        ),
        "station.json": (
            json.dumps(record).encode(),
            "station North lamps colour red lamps colour white",
        ),
        "lamps.jsonl": (b'{"lamp": "North"}\n{"lamp": "South"}\n', "lamp North lamp South"),
        "page.html": (html.encode(), f"Lamps\n{prose}"),
    }


def test_every_kind_is_stored_as_it_reads(api, project, start_worker, truth_documents):
    expected: dict[str, str] = {}
    files = []
    for name in PDFS:
        document = truth_documents[name]
        files.append(upload(f"{name}.pdf", document.path.read_bytes()))
        expected[f"{name}.pdf"] = document.truth
    made = {"minutes.docx": docx_file(), "tides.pptx": pptx_file(), "soundings.xlsx": xlsx_file()}
    made.update(text_files())
    for name, (data, truth) in made.items():
        files.append(upload(name, data))
        expected[name] = truth
    files.append(upload("book.epub", epub_bytes()))
    mail = (CORPUS / "mail" / "fake-email-utf-16.eml").read_bytes()
    files.append(upload("mail.eml", mail))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("inner/minutes.docx", made["minutes.docx"][0])
    files.append(upload("bundle.zip", archive.getvalue()))

    results = run_job(api, project, start_worker, files)

    for name, truth in expected.items():
        stored = text_of(results[name]["document"])
        assert similarity(stored, truth) >= BOUND, (name, stored[:2000])
        assert not [mark for mark in RESIDUE if mark in stored], name
    book = text_of(results["book.epub"]["document"])
    assert book.index("第二章") < book.index("Chapitre un")
    message = text_of(results["mail.eml"]["document"])
    assert message.startswith("Subject: Test Email\nFrom: Matthew Robinson")
    assert "Violets are blue" in message
    member = results["bundle.zip"]["members"][0]
    assert member["status"] == "duplicate"  # the same text as minutes.docx, read alike
