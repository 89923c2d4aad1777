"""PDFs made by LibreOffice (headless ``soffice``) from Word documents
whose text is known: a two-column section, a text box between paragraphs,
footnotes. Each document is written as flat ODF, turned into .docx by
LibreOffice, and the .docx printed to PDF by LibreOffice: the PDF is what
Writer makes of a Word file. Filled forms are real forms (LibreOffice's
and pdfTeX's, from the corpus) filled in by pypdf."""

import html
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.truth.prose import paragraphs, sentences

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "pdf"
NAMESPACES = " ".join(
    f'xmlns:{prefix}="urn:oasis:names:tc:opendocument:xmlns:{name}"'
    for prefix, name in (
        ("office", "office:1.0"),
        ("text", "text:1.0"),
        ("style", "style:1.0"),
        ("fo", "xsl-fo-compatible:1.0"),
        ("draw", "drawing:1.0"),
        ("svg", "svg-compatible:1.0"),
    )
)
STYLES = (
    "<office:automatic-styles>"
    '<style:style style:name="Two" style:family="section"><style:section-properties>'
    '<style:columns fo:column-count="2" fo:column-gap="0.8cm"/></style:section-properties>'
    "</style:style>"
    '<style:style style:name="Box" style:family="graphic"><style:graphic-properties '
    'style:wrap="none" fo:border="0.06pt solid #000000" fo:padding="0.2cm" '
    'style:horizontal-pos="center" style:horizontal-rel="paragraph"/></style:style>'
    "</office:automatic-styles>"
)


def flat_odt(body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document {NAMESPACES} '
        'office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">'
        f"{STYLES}<office:body><office:text>{body}</office:text></office:body></office:document>"
    )


def p(text: str) -> str:
    return f"<text:p>{html.escape(text)}</text:p>"


def two_column_section() -> tuple[str, list[str]]:
    title, inside, after = "Minutes of the lighthouse board", paragraphs(71, 6), sentences(72, 2)
    body = p(title) + '<text:section text:style-name="Two" text:name="Columns">'
    body += "".join(p(text) for text in inside) + "</text:section>" + "".join(p(t) for t in after)
    return body, [title, *inside, *after]


def text_box() -> tuple[str, list[str]]:
    before, boxed, after = paragraphs(81, 2), sentences(82, 2), paragraphs(83, 2)
    frame = (
        '<draw:frame draw:style-name="Box" text:anchor-type="as-char" svg:width="11cm" '
        'draw:z-index="0"><draw:text-box fo:min-height="1cm">'
        + "".join(p(text) for text in boxed)
        + "</draw:text-box></draw:frame>"
    )
    body = "".join(p(text) for text in before)
    body += f"<text:p>{frame}</text:p>" + "".join(p(text) for text in after)
    return body, [*before, *boxed, *after]


def footnotes() -> tuple[str, list[str]]:
    texts, notes = paragraphs(91, 3), sentences(92, 3)
    body, truth = "", []
    for number, (text, note) in enumerate(zip(texts, notes, strict=True), start=1):
        body += (
            f"<text:p>{html.escape(text)}<text:note text:id='n{number}' "
            f"text:note-class='footnote'><text:note-citation>{number}</text:note-citation>"
            f"<text:note-body>{p(note)}</text:note-body></text:note></text:p>"
        )
        truth.append(f"{text} {number}")
    truth += [f"{number} {note}" for number, note in enumerate(notes, start=1)]
    return body, truth


DOCUMENTS = {
    "lo-columns": two_column_section,
    "lo-text-box": text_box,
    "lo-footnotes": footnotes,
}
CATEGORIES = {"lo-columns": "columns", "lo-text-box": "boxes", "lo-footnotes": "footnotes"}


def soffice(target: str, sources: list[Path], out_dir: Path) -> None:
    """One LibreOffice run converting ``sources`` to ``target``, with a
    profile of its own so that runs elsewhere on the machine do not clash."""
    program = shutil.which("soffice")
    if program is None:
        raise RuntimeError("soffice is missing: apt-get install libreoffice-writer-nogui")
    profile = Path(tempfile.mkdtemp(prefix="truth-lo-"))
    try:
        subprocess.run(
            [
                program,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                target,
                "--outdir",
                str(out_dir),
                *map(str, sources),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def make_all(out_dir: Path) -> dict[str, tuple[str, str]]:
    work = out_dir / "sources"
    work.mkdir(exist_ok=True)
    truths = {}
    for name, build in DOCUMENTS.items():
        body, truth = build()
        (work / f"{name}.fodt").write_text(flat_odt(body), encoding="utf-8")
        truths[name] = (CATEGORIES[name], "\n".join(truth))
    soffice("docx", sorted(work.glob("*.fodt")), work)
    soffice("pdf", sorted(work.glob("*.docx")), out_dir)
    return {**truths, **filled_forms(out_dir)}


FORMS = {
    "form-libreoffice": (
        "libreoffice-form.pdf",
        {
            "First Name": "Ada",
            "Last Name": "Lovelace",
            "Birthday": "1815-12-10",
            "Nationality": "British",
            "First Name_2": "Marlow harbour lantern",
        },
        "Example for a Form\nFirst Name Ada Last Name Lovelace\nBirthday 1815-12-10\nGender:\n"
        "Female Male\nNationality:\nBritish\nAgree to privacy policy\nOther\n"
        "Marlow harbour lantern",
    ),
    "form-pdflatex": (
        "pdflatex-forms.pdf",
        {"Name": "Ada Lovelace"},
        "Name Ada Lovelace\nCheck\nSubmit\n1",
    ),
}


def filled_forms(out_dir: Path) -> dict[str, tuple[str, str]]:
    from pypdf import PdfReader, PdfWriter

    made = {}
    for name, (source, values, truth) in FORMS.items():
        writer = PdfWriter(clone_from=PdfReader(CORPUS / source))
        writer.update_page_form_field_values(writer.pages[0], values, auto_regenerate=False)
        with (out_dir / f"{name}.pdf").open("wb") as out:
            writer.write(out)
        made[name] = ("forms", truth)
    return made
