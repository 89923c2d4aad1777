"""PowerPoint (.pptx, and its slideshow, template and macro-enabled kinds):
slides in order, each with its title, then its shapes' text, tables and
grouped shapes in the slide's order, then its speaker notes."""

from collections.abc import Callable, Iterator
from typing import BinaryIO

from pptx.enum.shapes import PP_PLACEHOLDER

from ingest.pipeline.office.container import converts_damage, open_container

# Placeholders filled in by the application, not written by the author.
SLIDE_FURNITURE = frozenset({PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.DATE})
NOTES_PAGE_FURNITURE = SLIDE_FURNITURE | {
    PP_PLACEHOLDER.SLIDE_IMAGE,
    PP_PLACEHOLDER.HEADER,
    PP_PLACEHOLDER.FOOTER,
}


@converts_damage("PowerPoint presentation")
def extract_pptx(raw: BinaryIO, *, checkpoint: Callable[[], None]) -> Iterator[str]:
    # pptx.Presentation() refuses slideshows and templates (.ppsx, .potx):
    # the package is opened directly and its main part read.
    from pptx.package import Package

    open_container(raw, "pptx").close()
    presentation = Package.open(raw).main_document_part.presentation
    for slide in presentation.slides:
        checkpoint()
        title = slide.shapes.title
        title_id = title.shape_id if title is not None else None
        if title is not None and title.text_frame.text.strip():
            yield _text(title.text_frame.text) + "\n"
        for fragment in _shapes(slide.shapes, skip_id=title_id):
            yield fragment + "\n"
        if slide.has_notes_slide:
            # Every text of the notes page, not only its notes placeholder:
            # some producers (LibreOffice) write the notes in a text box.
            for fragment in _shapes(slide.notes_slide.shapes, skip=NOTES_PAGE_FURNITURE):
                yield fragment + "\n"
        yield "\n"


def _shapes(shapes, *, skip_id=None, skip=SLIDE_FURNITURE) -> Iterator[str]:
    from pptx.shapes.group import GroupShape

    for shape in shapes:
        if shape.shape_id == skip_id:
            continue
        if shape.is_placeholder and shape.placeholder_format.type in skip:
            continue
        if isinstance(shape, GroupShape):
            yield from _shapes(shape.shapes, skip_id=skip_id, skip=skip)
        elif shape.has_text_frame:
            if shape.text_frame.text.strip():
                yield _text(shape.text_frame.text)
        elif getattr(shape, "has_table", False) and shape.has_table:
            yield from _table(shape.table)


def _table(table) -> Iterator[str]:
    for row in table.rows:
        # A cell covered by a merged one repeats nothing of its own.
        cells = [_text(cell.text) for cell in row.cells if not cell.is_spanned]
        if any(cell.strip() for cell in cells):
            yield "\t".join(cells)


def _text(text: str) -> str:
    # python-pptx gives a line break inside a paragraph as a vertical tab.
    return text.replace("\v", "\n")
