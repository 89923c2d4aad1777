"""Word (.docx, .docm and templates): headers, then the body's paragraphs
and tables in order, then footnotes and endnotes, then footers: the order a
page shows them in (a footnote stands above the footer).

The package is read with zipfile and the standard library's XML parser, not
python-docx's objects: the body is parsed as a stream, each paragraph or
table dropped once read, so memory does not grow with the document (python-
docx holds every part whole, images included: about 8x a text-heavy file).
Reading the XML itself also keeps text python-docx's objects skip (content
controls, text boxes, nested tables) and reads text Word stores twice (a text
box's VML fallback) once.
"""

import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import BinaryIO
from xml.etree import ElementTree

from ingest.pipeline.office.container import converts_damage, open_container

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
INLINE_TEXT = {W + "t": None, W + "tab": "\t", W + "br": "\n", W + "cr": "\n"}
INLINE_TEXT.update({W + "noBreakHyphen": "-", W + "softHyphen": ""})
BLOCK_CONTAINERS = {W + "sdtContent", W + "customXml", W + "ins", W + "moveTo"}
_NUMBER = re.compile(r"(\d+)")


@converts_damage("Word document")
def extract_docx(raw: BinaryIO, *, checkpoint: Callable[[], None]) -> Iterator[str]:
    with open_container(raw, "docx") as package:
        main = main_part(package)
        related = _related_parts(package, main)
        seen: set[str] = set()
        yield from _unique_texts(package, related.get("header", []), seen, checkpoint)
        yield from _body_blocks(package, main, checkpoint)
        for name in related.get("footnotes", []) + related.get("endnotes", []):
            checkpoint()
            yield from _notes(_parse(package, name))
        yield from _unique_texts(package, related.get("footer", []), seen, checkpoint)


def main_part(package: zipfile.ZipFile, default: str = "word/document.xml") -> str:
    """The package's main part (word/document.xml, ppt/presentation.xml...)."""
    for target, kind, _id in relationships(package, "_rels/.rels", ""):
        if kind == "officeDocument":
            return target
    return default


def relationships(package: zipfile.ZipFile, rels: str, base: str) -> Iterator[tuple[str, str, str]]:
    """(part name, relationship kind, id) of each internal relationship in ``rels``."""
    try:
        package.getinfo(rels)
    except KeyError:
        return
    for relationship in _parse(package, rels).iter(PACKAGE_REL):
        target = relationship.get("Target", "")
        if relationship.get("TargetMode") == "External" or not target:
            continue
        name = target[1:] if target.startswith("/") else posixpath.join(base, target)
        kind = relationship.get("Type", "").rsplit("/", 1)[-1]
        yield posixpath.normpath(name), kind, relationship.get("Id", "")


def _related_parts(package: zipfile.ZipFile, main: str) -> dict[str, list[str]]:
    """The main part's headers, footers and notes, each list in part-name
    order (header1, header2, ... header10: the order Word creates them in)."""
    base = posixpath.dirname(main)
    rels = posixpath.join(base, "_rels", posixpath.basename(main) + ".rels")
    related: dict[str, list[str]] = {}
    for name, kind, _id in relationships(package, rels, base):
        if name not in related.setdefault(kind, []):
            related[kind].append(name)
    for names in related.values():
        names.sort(key=lambda name: [int(p) if p.isdigit() else p for p in _NUMBER.split(name)])
    return related


def _parse(package: zipfile.ZipFile, name: str) -> ElementTree.Element:
    return ElementTree.fromstring(package.read(name))


def _body_blocks(package: zipfile.ZipFile, main: str, checkpoint) -> Iterator[str]:
    """Each block of the body as it is parsed; a block is dropped once read."""
    depth, body = 0, None
    with package.open(main) as source:
        for event, element in ElementTree.iterparse(source, events=("start", "end")):
            if event == "start":
                depth += 1
                if depth == 2 and element.tag == W + "body":
                    body = element
                continue
            if depth == 3 and body is not None:
                checkpoint()
                for block in _blocks([element]):
                    yield block + "\n"
                body.remove(element)
            depth -= 1


def _unique_texts(package: zipfile.ZipFile, names: list[str], seen: set[str], checkpoint):
    # Sections usually repeat one header in several parts (first page, even
    # pages, each section): the same text is given once.
    for name in names:
        checkpoint()
        text = "\n".join(block for block in _blocks(_parse(package, name)) if block.strip())
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
            for content in child.findall(W + "sdtContent"):
                yield from _blocks(content)
        elif tag in BLOCK_CONTAINERS:
            yield from _blocks(child)


def _rows(table) -> Iterator[str]:
    for row in _wrapped(table, W + "tr"):
        cells = [
            " ".join(b for b in _blocks(cell) if b.strip())
            for cell in _wrapped(row, W + "tc")
            if not _merged_away(cell)
        ]
        if any(cells):
            yield "\t".join(cells)


def _merged_away(cell) -> bool:
    """Whether the cell continues a merge started above or to its left
    (``vMerge`` without ``restart``, the legacy ``hMerge``): Word shows the
    first cell's text across the merge and hides what the others hold."""
    properties = cell.find(W + "tcPr")
    if properties is None:
        return False
    for tag in (W + "vMerge", W + "hMerge"):
        merge = properties.find(tag)
        if merge is not None and merge.get(W + "val", "continue") != "restart":
            return True
    return False


def _wrapped(parent, tag: str) -> Iterator:
    """Children with ``tag``, also those wrapped in a content control or custom XML."""
    for child in parent:
        if child.tag == tag:
            yield child
        elif child.tag == W + "sdt":
            for content in child.findall(W + "sdtContent"):
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
