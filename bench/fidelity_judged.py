"""Real files whose reference reads wrongly, as their pages show.

``bench.fidelity --real`` lists the files below 0.95 against the
independent extractor (bench/fidelity_real.py). Each file here was looked
at: its page rendered (``pdftoppm -png``) or its source opened, and read
beside both texts. An entry names the file by its content's sha256 (the
name is for people), says what the reference gets wrong, and quotes a few
words in the order the page shows them. Every run checks that our text
holds those words in that order and the reference's text does not; an
entry whose check fails no longer counts, and the report says so.

Only files someone verified are listed: a file below 0.95 that is not here
is not counted as reading as the document does.
"""

from dataclasses import dataclass

from tests.wordorder import words


@dataclass(frozen=True)
class Judged:
    name: str
    sha256: str
    reason: str
    page_words: str  # as the page shows them, in order


def holds(text: str, page_words: str) -> bool:
    """Whether ``text`` has the page's words one after another, in order."""
    have, want = words(text), words(page_words)
    if not want:
        return False
    first = want[0]
    return any(
        have[start : start + len(want)] == want for start, word in enumerate(have) if word == first
    )


ENTRIES = (
    Judged(
        "a1977-backus-p21.pdf",
        "bb6ff99b1d38d703bae53788099f43d8e7ee07a4700f13158d11c8a5ffc4f68e",
        "pdftotext spaces the small capitals out (c o n s, d e f)",
        "This definition results in <CONS",
    ),
    Judged(
        "chevron-page.pdf",
        "d66f6dc8248f896a0021784ffa9a9de99005cba5cc46ae180ac9494b35def7d4",
        "pdftotext reads the three figures' numbers first, their labels last",
        "2.5 kilograms CO2e/boe carbon intensity from",
    ),
    Judged(
        "embedded-images-tables.pdf",
        "00cf5fc3c334076f982b88d4e8f8bf1ecdf8273ce2b1de9d79f462b1c0a54e65",
        "pdftotext reads Table 1 column by column",
        "0 0.0335 0.0409 -0.9393 0.0003 24.0910 2.8163",
    ),
    Judged(
        "embedded-images.pdf",
        "74acf104c0e19f137e55ca71e0ca353e9dbf8faa085a4f5d875cd0dcc76e0d81",
        'pdftotext leaves the middle column for the right one after "zone 3."',
        "the access zone 3. Note: the distance at which the vehicle locks depends on the surroundings",
    ),
    Judged(
        "fake-bold-sample.pdf",
        "db9c9f96f4b99d45b0c2384cd887d65e1822b8269b290bb8101c141243c5cdb6",
        "pdftotext cuts the words of the bold line (BOL D T EXT SAMPL E)",
        "BOLD TEXT SAMPLE",
    ),
    Judged(
        "invalid-pdf-structure-pdfminer-one-page.pdf",
        "da07aa0fec60f7932d5c1c148d59f73c423882413ab0cc225936d7b6bf7a2770",
        "pdftotext leaves page 2's figure for the right column after its first row",
        "Fully addressed Fully addressed Fully addressed Purpose, scope, and methodology",
    ),
    Judged(
        "korean-text-with-tables.pdf",
        "36421881cd85efede8bebe018754fb99e21eb12eab5985c37409b10e66855130",
        "pdftotext reads the two cards line by line across both",
        "1.5% 빅포인트 적립 적립한도 없이 할인점·주유·온라인쇼핑몰",
    ),
    Judged(
        "list-item-example.pdf",
        "ce21d1a0ff660a7045a2d64f042f9049d52c207263cb06f48610ef221d5195c8",
        "pdftotext interleaves the two columns",
        "Development and Quality Assurance This module introduces the learner",
    ),
    Judged(
        "multi-column.pdf",
        "3e67fc1a9977715acf722d85f0b7d124b03715e975f6310a4d6c12094190912f",
        "pdftotext reads the tables of results (page 5) column by column",
        "Single DPR 78.4 79.4 73.2 79.8 63.2 85.4 85.0 81.4 89.1 77.2",
    ),
    Judged(
        "pdf-bad-color-space.pdf",
        "9097b54174b53ccdc9a0c2c0e3c6612ff109b0083c3e14725d979ccfcf00b48b",
        "pdftotext interleaves the two columns line by line (page rendered by PDFium: poppler fails on its colour space)",
        "The United Nations Intergovernmental Panel on Climate Change is unequivocal",
    ),
    Judged(
        "pdf-with-ocr-text.pdf",
        "a0e8a73f4b94e9f04aabd8d74db9e23c6ef000b5d15ec389ebe86f91a31bb49b",
        "pdftotext spaces the OCR layer's letters out (t o, t h a t); the layer itself misreads the scan elsewhere",
        "interested to",
    ),
    Judged(
        "reliance.pdf",
        "5b55204370b8c1254d560539666930c14874d407bf8cd34ab4ad894943781e39",
        "pdftotext interleaves the spread's quotes with its figures",
        "By revenue 7,92,756 crore",
    ),
    Judged(
        "google-doc-document.pdf",
        "69f6b7f493b1bc55d518942976cbeadc4ec0a36f6d8a6dc24feffc516d35b2c9",
        "pdftotext reads the table column by column",
        "Indonesia Germany Austria France Vatican Continent Asia Europe",
    ),
    Judged(
        "habibi-oneline-cmap.pdf",
        "31b50622a8623723188bbb69385881c70ca8bedaa5099a19392c0d0afcccd8ee",
        "pdftotext writes the Arabic word's letters backwards",
        "حَبيبي habibi",
    ),
    Judged(
        "habibi-rotated.pdf",
        "56329f1e3cff5358f1f2aadcfac03467cce51b36b2e2daab9c14cef26f7ea536",
        "pdftotext writes the Arabic word's letters backwards",
        "حَبيبي habibi",
    ),
    Judged(
        "habibi.pdf",
        "1017c4559eb7d0ccf7d151a3f051c8c1da27a7c1dc8050b2b687e3d3228e1b6f",
        "pdftotext writes the Arabic word's letters backwards",
        "حَبيبي habibi",
    ),
    Judged(
        "libreoffice-form.pdf",
        "9105eeef8c8cafdb141b7edd768a5e08adffe320d1d4f89e1a7112a2b37d1c57",
        'pdftotext puts "Last Name", on the first line of the page, last',
        "First Name Alice Last Name Birthday",
    ),
    Judged(
        "multicolumn.pdf",
        "bdb495e95b3e1afae95013099dc59b0cea047f1fa70f677ee9cb33f10faa1c6c",
        "pdftotext reads page 3's table column by column",
        "Austria 8.9 83,879 Vienna German Belgium 11.5",
    ),
    Judged(
        "fake-html-cp1252.html",
        "8b9ea7d11fbcf8721c2ab77e42c3291047eee132dfd84d1e03c6642a49ecc22f",
        'the page declares no charset; its bytes are cp1252 (0xE8 in "tr\\xe8s"), the reference guesses cp1250 (trčs)',
        "L'été était très chaud cette année",
    ),
    Judged(
        "budget.fods",
        "5d3fffe58bcb98c654ccc4b6c7ff47ca4aad4d57cc3f401a2390c1965dc1ce1d",
        "the tag-stripping reference drops the sheets' names (table:name), which the spreadsheet shows on its tabs",
        "Dépenses Article Prix",
    ),
    Judged(
        "talk.pptx",
        "b21111f25fccec145d792eb75a38dae85945fac41cb87eb9f05563c289c06389",
        'the notes hold "Parler lentement" in a text box, not the notes placeholder, the only one python-pptx\'s notes_text_frame reads',
        "Parler lentement",
    ),
    Judged(
        "docx-hdrftr.docx",
        "ca8463d30948f4ddd6bf2fac001b11b6b21657107d82279ebd910e3ca8310dda",
        "the header holds a table, which python-docx's header paragraphs leave out"
        " (page rendered by LibreOffice)",
        "First header para Table cell1 Table cell2 Last header para",
    ),
    Judged(
        "docx-shapes.docx",
        "536efe9ff61931073d90adf5e234162bbf5374adea4ad1c03e07985ae01956a7",
        "pandoc leaves out the text of shapes set inline in a paragraph"
        " (page rendered by LibreOffice)",
        "Paragraph with single <inline-image> within",
    ),
)

JUDGED = {entry.sha256: entry for entry in ENTRIES}
