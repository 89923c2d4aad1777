"""PowerPoint (.pptx, and its slideshow, template and macro-enabled kinds):
slides in order, each with its title, then its shapes' text, tables and
grouped shapes in the slide's order, then the text of its notes page.

The package is read with zipfile and the standard library's XML parser, one
slide at a time: python-pptx loads every part of the package first, pictures
and videos included, so a presentation's memory would be its whole size.
"""

import posixpath
import zipfile
from collections.abc import Callable, Iterator
from typing import BinaryIO
from xml.etree import ElementTree

from ingest.pipeline.office.container import converts_damage, open_container
from ingest.pipeline.office.word import main_part, relationships

P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
TITLES = {"title", "ctrTitle"}
# Placeholders the application fills in (the slide number, the date): their
# fields are left out, but text the author typed into them is kept.
SLIDE_FURNITURE = frozenset({"sldNum", "dt"})
NOTES_PAGE_FURNITURE = SLIDE_FURNITURE | {"sldImg", "hdr", "ftr"}
PARAGRAPH_PROPERTIES = frozenset({f"{A}pPr", f"{A}endParaRPr"})


@converts_damage("PowerPoint presentation")
def extract_pptx(raw: BinaryIO, *, checkpoint: Callable[[], None]) -> Iterator[str]:
    with open_container(raw, "pptx") as package:
        presentation = main_part(package, "ppt/presentation.xml")
        targets = _targets(package, presentation)
        root = ElementTree.fromstring(package.read(presentation))
        for slide_id in root.iter(f"{P}sldId"):
            checkpoint()
            slide = targets[slide_id.get(R_ID)]
            yield from _slide_text(package, slide, SLIDE_FURNITURE, titles_first=True)
            for notes in _related(package, slide, "notesSlide"):
                # Every text of the notes page, not only its notes placeholder:
                # some producers (LibreOffice) write the notes in a text box.
                yield from _slide_text(package, notes, NOTES_PAGE_FURNITURE, titles_first=False)
            yield "\n"


def _targets(package: zipfile.ZipFile, part: str) -> dict[str, str]:
    base = posixpath.dirname(part)
    rels = posixpath.join(base, "_rels", posixpath.basename(part) + ".rels")
    return {rel_id: name for name, _kind, rel_id in relationships(package, rels, base)}


def _related(package: zipfile.ZipFile, part: str, kind: str) -> list[str]:
    base = posixpath.dirname(part)
    rels = posixpath.join(base, "_rels", posixpath.basename(part) + ".rels")
    return [name for name, found, _id in relationships(package, rels, base) if found == kind]


def _slide_text(package, part: str, skip: frozenset, *, titles_first: bool) -> Iterator[str]:
    tree = ElementTree.fromstring(package.read(part)).find(f"{P}cSld/{P}spTree")
    if tree is None:
        return
    shapes = list(_shapes(tree, skip))
    if titles_first:
        # The title first, wherever the slide's order puts its shape.
        shapes.sort(key=lambda shape: shape[0] not in TITLES)
    for _kind, text in shapes:
        if text.strip():
            yield text + "\n"


def _shapes(tree, skip: frozenset) -> Iterator[tuple[str | None, str]]:
    """(placeholder type, text) of each shape, groups opened, in order."""
    for shape in tree:
        if shape.tag == f"{P}grpSp":
            yield from _shapes(shape, skip)
        elif shape.tag == f"{P}sp":
            placeholder = shape.find(f"{P}nvSpPr/{P}nvPr/{P}ph")
            kind = placeholder.get("type", "body") if placeholder is not None else None
            body = shape.find(f"{P}txBody")
            if body is not None:
                yield kind, _paragraphs(body, fields=kind not in skip)
        elif shape.tag == f"{MC}AlternateContent":
            # Newer shapes with a fallback for older readers: the first choice only.
            choice = shape.find(f"{MC}Choice")
            if choice is not None:
                yield from _shapes(choice, skip)
        elif shape.tag == f"{P}graphicFrame":
            for table in shape.iter(f"{A}tbl"):
                yield None, "\n".join(_rows(table))


def _rows(table) -> Iterator[str]:
    for row in table.iter(f"{A}tr"):
        # A cell covered by a merged one repeats nothing of its own.
        cells = [
            _paragraphs(cell)
            for cell in row.findall(f"{A}tc")
            if cell.get("hMerge") not in ("1", "true") and cell.get("vMerge") not in ("1", "true")
        ]
        if any(cell.strip() for cell in cells):
            yield "\t".join(cells)


def _paragraphs(body, *, fields: bool = True) -> str:
    """The body's text; without ``fields``, only what was typed (a field's
    text is the application's: a slide number, today's date)."""
    lines = []
    for paragraph in body.iter(f"{A}p"):
        parts = []
        for element in paragraph:
            if element.tag == f"{A}br":
                parts.append("\n")
            elif element.tag not in PARAGRAPH_PROPERTIES and (fields or element.tag != f"{A}fld"):
                parts.extend(text.text or "" for text in element.iter(f"{A}t"))
        lines.append("".join(parts))
    return "\n".join(lines)
