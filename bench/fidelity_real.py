"""Real files against independent extractors (part of bench/fidelity.py).

Each file's stored text (``ours``) is compared with a reference made by a
different program: poppler's ``pdftotext`` for PDF; pandoc for Word and EPUB
(Word's headers and footers, which pandoc leaves out, from python-docx);
libxml2's HTML parser for HTML; python-pptx for PowerPoint; openpyxl for Excel; the email
package with pandoc for an HTML body for e-mail; ``jq`` for JSON; the csv
module for tables; the decoded file for text. An e-mail's attachments are
files of their own.

A reference can be wrong: pdftotext spaces some fonts' letters out, and
reads tables column by column and some columns line by line. So a PDF
below 0.95 is also compared with pdfminer.six, and letter by letter with
pdftotext (spaces aside); the report gives both counts, and lists the files
below 0.95 to be looked at. Where the page was looked at and the reference
found wrong, ground truth decides (``bench/fidelity_judged.py``): such a
file reads as the document does when our text holds the words the page
shows, in order, and the reference does not.
"""

import csv
import difflib
import email
import hashlib
import io
import json
import re
import statistics
import subprocess
import tempfile
from email.policy import default as default_policy
from pathlib import Path

from bench.fidelity_judged import JUDGED, holds
from tests.wordorder import word_similarity, words

PASS = 0.95
RESIDUE = ("\ufffe", "\ufffd", "<script", "xmlns", "<w:", "<a:", "<?xml", "<style", "<!--")
LONG = 40_000  # words: past this, difflib's junk heuristic keeps the comparison quick


def measure(directories: list[Path], *, ours, verbose: bool) -> dict:
    rows = []
    for path in _files(directories):
        for name, member in _with_attachments(path):
            row = _measure_one(name, member, ours)
            if row is not None:
                rows.append(row)
                if verbose:
                    print(f"  {row['kind']:5} {row['score']!s:>6} {row['best']!s:>6} {name}")
    return _summary(rows)


def _files(directories: list[Path]):
    """Each file once, by content: a corpus copied into another counts once."""
    seen: set[str] = set()
    for directory in directories:
        candidates = [directory] if directory.is_file() else sorted(directory.rglob("*"))
        for path in candidates:
            if not path.is_file() or any(part.startswith(".") for part in path.parts):
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                yield path


def _with_attachments(path: Path):
    yield str(path), path
    if path.suffix.lower() != ".eml":
        return
    from ingest.pipeline import office

    try:
        with path.open("rb") as raw:
            attachments = list(office.eml_attachments(raw))
    except Exception:  # a damaged message is measured as a file, its parts are not
        return
    work = Path(tempfile.mkdtemp(prefix="fidelity-mail-"))
    for number, attachment in enumerate(attachments):
        member = work / f"{number}-{attachment.name}"
        member.write_bytes(attachment.payload)
        yield f"{path}/{attachment.name}", member


def _measure_one(name: str, path: Path, ours) -> dict | None:
    from ingest.pipeline import readers

    try:
        with path.open("rb") as raw:
            kind = readers.detect_file_kind(path.name, raw)
    except (readers.UnsupportedType, OSError):
        return None
    if kind not in REFERENCES:
        return None
    try:
        reference = REFERENCES[kind](path)
    except Exception as exc:  # no reference, no verdict
        return {"file": name, "kind": kind, "score": None, "best": None, "note": repr(exc)}
    try:
        text = ours(path, kind)
        pages = _our_pages(path) if kind == "pdf" else None
    except readers.ExtractionError as exc:
        if not words(reference):
            return None  # neither finds text: a scan, a protected file
        return {"file": name, "kind": kind, "score": 0.0, "best": 0.0, "note": str(exc)}
    score = _similarity(text, reference, kind, pages)
    best = score
    if kind == "pdf" and score < PASS:
        best = max(score, _similarity(text, _pdfminer(path), kind), _letters(text, reference))
    # A mark the document itself shows (a page about XML) is its text, not residue.
    residue = [mark for mark in RESIDUE if mark in text and mark not in reference]
    row = {"file": name, "kind": kind, "score": score, "best": round(best, 4), "residue": residue}
    if score < PASS:
        row["judged"] = _judged(path, text, reference)
    return row


def _judged(path: Path, text: str, reference: str) -> dict | None:
    """The page's verdict on a file below 0.95, where one was recorded: the
    reason the reference reads wrongly, and whether the check still holds
    (our text has the page's words in order, the reference does not)."""
    entry = JUDGED.get(hashlib.sha256(path.read_bytes()).hexdigest())
    if entry is None:
        return None
    ours_hold, reference_holds = holds(text, entry.page_words), holds(reference, entry.page_words)
    return {
        "reason": entry.reason,
        "page_words": entry.page_words,
        "holds": ours_hold and not reference_holds,
    }


def _similarity(text: str, reference: str, kind: str, pages: list[str] | None = None) -> float:
    if pages is not None and "\f" in reference:
        return round(_by_pages(pages, reference.split("\f")), 4)
    ours, theirs = words(text), words(reference)
    if len(ours) + len(theirs) > LONG:
        return round(difflib.SequenceMatcher(None, ours, theirs).ratio(), 4)
    return round(word_similarity(ours, theirs), 4)


def _by_pages(ours: list[str], theirs: list[str]) -> float:
    """A PDF page by page (pdftotext ends each page with a form feed; our
    reader yields a page at a time): the pages' similarities, weighted by
    their words."""
    total = weighted = 0
    for mine, reference in zip(ours, theirs, strict=False):
        size = len(words(mine)) + len(words(reference))
        weighted += word_similarity(words(mine), words(reference)) * size
        total += size
    return weighted / total if total else 1.0


def _our_pages(path: Path) -> list[str]:
    """Our reader's text of each page (it yields one page at a time)."""
    from ingest.pipeline import readers

    with path.open("rb") as raw:
        return list(readers.extract("pdf", raw, checkpoint=lambda: None, path=path))


def _letters(text: str, reference: str) -> float:
    """Similarity of the letters alone, in order: a reference that spaces a
    word's letters out, or runs words together, still reads the same."""
    ours, theirs = "".join(words(text)), "".join(words(reference))
    if len(ours) + len(theirs) > 200_000:
        return 0.0
    return difflib.SequenceMatcher(None, ours, theirs, autojunk=False).ratio()


def _pdfminer(path: Path) -> str:
    from pdfminer.high_level import extract_text

    try:
        return extract_text(str(path))
    except Exception:  # pdfminer's own failures mean no second opinion
        return ""


# --- references, one per kind -----------------------------------------------------


def _run(command: list[str], data: bytes | None = None) -> str:
    done = subprocess.run(command, input=data, capture_output=True, timeout=600, check=True)
    return done.stdout.decode("utf-8", errors="replace")


def _decoded(path: Path) -> str:
    """The file's text: in the charset its markup declares, else as
    charset-normalizer reads it."""
    from charset_normalizer import from_bytes

    data = path.read_bytes()
    declared = re.search(rb"""charset=["']?([A-Za-z0-9_-]+)""", data[:4096])
    if declared and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode(declared.group(1).decode())
        except (LookupError, UnicodeDecodeError):
            pass
    best = from_bytes(data).best()
    return str(best) if best is not None else data.decode("utf-8", errors="replace")


def ref_pdf(path: Path) -> str:
    return _run(["pdftotext", "-enc", "UTF-8", str(path), "-"])


def ref_pandoc(kind: str):
    def read(path: Path) -> str:
        return _run(["pandoc", "-f", kind, "-t", "plain", "--wrap=none", str(path)])

    return read


def ref_html(path: Path) -> str:
    """The page's text nodes by libxml2's HTML parser (lxml), in document
    order, without the head, scripts, styles, templates and comments.
    (pandoc's plain text lays layout tables out as grids, which reorders
    them, and gives images' alternative text, which no reader sees.)"""
    import lxml.html

    parser = lxml.html.HTMLParser(encoding="utf-8")
    root = lxml.html.document_fromstring(_decoded(path).encode("utf-8"), parser=parser)
    hidden = root.xpath("//head|//script|//style|//template|//noscript|//comment()")
    for element in hidden:
        if element.getparent() is not None:  # a comment before <html> has none
            element.drop_tree()
    return " ".join(root.itertext())


def ref_docx(path: Path) -> str:
    import docx

    body = ref_pandoc("docx")(path)
    section = docx.Document(str(path)).sections[0]
    header = "\n".join(p.text for p in section.header.paragraphs)
    footer = "\n".join(p.text for p in section.footer.paragraphs)
    return f"{header}\n{body}\n{footer}"


def ref_pptx(path: Path) -> str:
    from pptx import Presentation

    def shapes(group):
        for shape in group:
            if shape.shape_type == 6:  # a group: its shapes, in order
                yield from shapes(shape.shapes)
            elif shape.has_text_frame:
                yield shape.text_frame.text
            elif getattr(shape, "has_table", False) and shape.has_table:
                for row in shape.table.rows:
                    yield " ".join(cell.text for cell in row.cells)

    out = []
    for slide in Presentation(str(path)).slides:
        out.extend(shapes(slide.shapes))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            out.append(slide.notes_slide.notes_text_frame.text)
    return "\n".join(out)


def ref_xlsx(path: Path) -> str:
    import openpyxl

    def cell(value) -> str:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    book = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    out = []
    for sheet in book.worksheets:
        out.append(sheet.title)
        out.extend(
            " ".join(cell(v) for v in row if v is not None)
            for row in sheet.iter_rows(values_only=True)
        )
    return "\n".join(out)


def ref_eml(path: Path) -> str:
    data = path.read_bytes()
    for encoding, test in (
        ("utf-16", data[:2] in (b"\xff\xfe", b"\xfe\xff")),
        ("utf-16-be", data[:1] == b"\x00"),
        ("utf-16-le", data[1:2] == b"\x00"),
    ):
        if test:
            data = data.decode(encoding).encode("utf-8")
            break
    message = email.message_from_bytes(data, policy=default_policy)
    out = [
        f"{name}: {message[name]}"
        for name in ("Subject", "From", "To", "Cc", "Date")
        if message[name]
    ]
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = body.get_content()
        if body.get_content_subtype() == "html":
            content = _run(["pandoc", "-f", "html", "-t", "plain", "--wrap=none"], content.encode())
        out.append(content)
    return "\n".join(out)


JQ_PATHS = (
    'paths(scalars) as $p | ($p | map(select(type == "string")) | join(".")) as $k'
    ' | (getpath($p) | tostring) as $v | if $k == "" then $v else "\\($k): \\($v)" end'
)


def ref_json(path: Path) -> str:
    return _run(["jq", "-r", JQ_PATHS], _decoded(path).encode())


def ref_csv(path: Path) -> str:
    text = _decoded(path)
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    return "\n".join(" ".join(row) for row in csv.reader(io.StringIO(text), dialect))


REFERENCES = {
    "pdf": ref_pdf,
    "docx": ref_docx,
    "epub": ref_pandoc("epub"),
    "html": ref_html,
    "pptx": ref_pptx,
    "xlsx": ref_xlsx,
    "eml": ref_eml,
    "json": ref_json,
    "jsonl": ref_json,
    "csv": ref_csv,
    "tsv": ref_csv,
    "txt": _decoded,
    "md": _decoded,
    "xml": lambda path: re.sub(r"<[^>]*>", " ", _decoded(path)),
}


def _summary(rows: list[dict]) -> dict:
    judged = [row for row in rows if row["score"] is not None]
    kinds = sorted({row["kind"] for row in judged})
    table = {}
    for kind in [*kinds, "all"]:
        members = [row for row in judged if kind in ("all", row["kind"])]
        table[kind] = {
            "files": len(members),
            "pass": sum(row["score"] >= PASS for row in members),
            "pass_any_reference": sum(row["best"] >= PASS for row in members),
            "median": round(statistics.median(row["score"] for row in members), 4)
            if members
            else None,
        }
    below = [row for row in judged if row["score"] < PASS]
    residue = [row for row in judged if row.get("residue")]
    by_page = [row for row in below if row.get("judged") and row["judged"]["holds"]]
    reads = sum(row["score"] >= PASS for row in judged) + len(by_page)
    return {
        "kinds": table,
        "reads_as_document": {
            "files": len(judged),
            "reach_pass": len(judged) - len(below),
            "judged_by_page": len(by_page),
            "share": round(reads / len(judged), 4) if judged else None,
        },
        "below": below,
        "residue": residue,
        "unjudged": [r for r in rows if r["score"] is None],
        "files": judged,
    }


def report(figures: dict) -> None:
    print(f"  {'kind':6} {'files':>5} {'>=0.95':>7} {'any ref':>8} {'median':>7}")
    for kind, row in figures["kinds"].items():
        print(
            f"  {kind:6} {row['files']:>5} {row['pass']:>7} {row['pass_any_reference']:>8} {row['median']!s:>7}"
        )
    overall = figures["kinds"].get("all", {"files": 0, "pass": 0, "pass_any_reference": 0})
    if overall["files"]:
        share = overall["pass"] / overall["files"]
        any_share = overall["pass_any_reference"] / overall["files"]
        print(
            f"  reaching 0.95: {overall['pass']} of {overall['files']} ({share:.1%}) against the"
            f" reference, {overall['pass_any_reference']} ({any_share:.1%}) against any reference"
        )
    reads = figures["reads_as_document"]
    if reads["files"]:
        print(
            f"  reading as the document does: {reads['reach_pass']} reach 0.95 against the"
            f" reference + {reads['judged_by_page']} below it where the page shows the reference"
            f" wrong = {reads['reach_pass'] + reads['judged_by_page']} of {reads['files']}"
            f" ({reads['share']:.1%})"
        )
    print(f"  files holding U+FFFE, U+FFFD or markup: {len(figures['residue'])}")
    for row in figures["residue"]:
        print(f"    {row['file']}: {row['residue']}")
    for row in figures["below"]:
        print(f"    below 0.95: {row['score']:.3f} (best {row['best']:.3f}) {row['file']}")
        print(f"      {_verdict(row.get('judged'))}")
    for row in figures["unjudged"]:
        print(f"    no reference: {row['file']} ({row.get('note', '')[:80]})")
    json.dumps(figures)  # the figures must serialise for write_results


def _verdict(judged: dict | None) -> str:
    if judged is None:
        return "not judged against the page"
    if not judged["holds"]:
        return f"judgement no longer holds: {judged['page_words']!r} ({judged['reason']})"
    return f"the page shows the reference wrong: {judged['reason']}"
