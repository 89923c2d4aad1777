"""Word (.docx): the body's paragraphs and tables in order, then headers,
footers, footnotes and endnotes.

python-docx opens the package; the text is read from the XML itself, so that
text python-docx's objects skip is kept (content controls, text boxes, nested
tables) and text Word stores twice (a text box's VML fallback) is read once.
"""

from collections.abc import Callable, Iterator
from typing import BinaryIO

from ingest.pipeline.office.container import converts_damage, open_container

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
R_ID = f"{{{REL}}}id"
INLINE_TEXT = {W + "t": None, W + "tab": "\t", W + "br": "\n", W + "cr": "\n"}
INLINE_TEXT.update({W + "noBreakHyphen": "-", W + "softHyphen": ""})
BLOCK_CONTAINERS = {W + "sdtContent", W + "customXml", W + "ins", W + "moveTo"}
NOTE_RELS = (f"{REL}/footnotes", f"{REL}/endnotes")


@converts_damage("Word document")
def extract_docx(raw: BinaryIO, *, checkpoint: Callable[[], None]) -> Iterator[str]:
    # docx.Document() refuses macro-enabled documents and templates (.docm,
    # .dotx): the package is opened directly and its main part read.
    from docx.package import Package

    open_container(raw, "docx").close()
    part = Package.open(raw).main_document_part
    checkpoint()
    body = _element(part).find(W + "body")
    if body is None:
        return
    headers = _parts_referenced(part, body, W + "headerReference")
    footers = _parts_referenced(part, body, W + "footerReference")
    seen: set[str] = set()
    yield from _unique_texts(headers, seen, checkpoint)
    for block in _blocks(body):
        checkpoint()
        yield block + "\n"
    yield from _unique_texts(footers, seen, checkpoint)
    for rel in part.rels.values():
        if rel.reltype in NOTE_RELS and not rel.is_external:
            checkpoint()
            yield from _notes(_element(rel.target_part))


def _parts_referenced(part, body, tag: str) -> list:
    """Header or footer parts in the order the sections name them, each once."""
    elements, names = [], set()
    for reference in body.iter(tag):
        target = part.related_parts[reference.get(R_ID)]
        if target.partname not in names:
            names.add(target.partname)
            elements.append(_element(target))
    return elements


def _element(part):
    # Header and footer parts are parsed by python-docx; notes parts are
    # plain parts holding their XML bytes.
    element = getattr(part, "element", None)
    if element is None:
        from docx.oxml.parser import parse_xml

        element = parse_xml(part.blob)
    return element


def _unique_texts(elements, seen: set[str], checkpoint) -> Iterator[str]:
    # Sections usually repeat one header in several parts (first page, even
    # pages, each section): the same text is given once.
    for element in elements:
        checkpoint()
        text = "\n".join(block for block in _blocks(element) if block.strip())
        if text and text not in seen:
            seen.add(text)
            yield text + "\n\n"


def _notes(root) -> Iterator[str]:
    for note in root:
        # Separators are the lines between body text and notes, not notes.
        if note.get(W + "type") in (None, "normal"):
            text = "\n".join(block for block in _blocks(note) if block.strip())
            if text:
                yield text + "\n"


def _blocks(container) -> Iterator[str]:
    """The text of each paragraph, and of each table row, in document order."""
    for child in container:
        tag = child.tag
        if tag == W + "p":
            yield _inline(child)
        elif tag == W + "tbl":
            yield from _rows(child)
        elif tag == W + "sdt":
            for content in child.iterchildren(W + "sdtContent"):
                yield from _blocks(content)
        elif tag in BLOCK_CONTAINERS:
            yield from _blocks(child)


def _rows(table) -> Iterator[str]:
    for row in _wrapped(table, W + "tr"):
        cells = [
            " ".join(b for b in _blocks(cell) if b.strip()) for cell in _wrapped(row, W + "tc")
        ]
        if any(cells):
            yield "\t".join(cells)


def _wrapped(parent, tag: str) -> Iterator:
    """Children with ``tag``, also those wrapped in a content control or custom XML."""
    for child in parent:
        if child.tag == tag:
            yield child
        elif child.tag == W + "sdt":
            for content in child.iterchildren(W + "sdtContent"):
                yield from _wrapped(content, tag)
        elif child.tag == W + "customXml":
            yield from _wrapped(child, tag)


def _inline(element) -> str:
    out: list[str] = []
    _collect(element, out)
    return "".join(out)


def _collect(element, out: list[str]) -> None:
    for child in element:
        tag = child.tag
        if tag in INLINE_TEXT:
            fixed = INLINE_TEXT[tag]
            out.append((child.text or "") if fixed is None else fixed)
        elif tag == W + "txbxContent":
            # A text box's paragraphs, each on a line of its own.
            out.extend("\n" + block for block in _blocks(child))
            out.append("\n")
        elif tag != MC_FALLBACK and tag != W + "pPr" and tag != W + "rPr":
            _collect(child, out)
