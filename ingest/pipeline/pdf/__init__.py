"""PDF text through PDFium (pypdfium2), page by page, as the page reads.

PDFium is the engine in Chrome: it reads what real producers write, and is
many times faster than pypdf on the same files (bench/extract.py). The
document is opened from its path, so PDFium reads the file itself (random
access, no Python in the loop); each page is closed before the next, so
memory stays flat whatever the page count, and a checkpoint runs between
pages. What a page says, and in which order, is ``page``'s business.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

from ingest.pipeline.errors import ExtractionError

NO_TEXT = (
    "the PDF has no text layer (its pages are images, as in a scan); text is not "
    "recognised from images here, so run it through OCR first and send the result."
)


def extract_pdf(
    source: Path,
    *,
    checkpoint: Callable[[], None],
    info: dict,
    progress: Callable[[float], None] = lambda fraction: None,
) -> Iterator[str]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    from ingest.pipeline.pdf.forms import form_handle

    try:
        # No password is ever given: an owner-password-only PDF (print or
        # copy restrictions) opens as it would in a viewer; one that needs a
        # password to be opened fails below, saying so.
        document = pdfium.PdfDocument(source)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise ExtractionError(
                "the PDF is protected by a password; passwords are not taken, "
                "so send it without one."
            ) from exc
        raise ExtractionError(f"the PDF could not be read ({exc}).") from exc
    with document:
        form = form_handle(document)
        pages = len(document)
        info["pages"] = pages
        found = 0
        for number in range(pages):
            checkpoint()
            text = _page_text(document, number, form)
            found += len(text.strip())
            yield text + "\n\n"
            progress((number + 1) / pages)
    if not found:
        raise ExtractionError(NO_TEXT)


def _page_text(document, number: int, form) -> str:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    from ingest.pipeline.pdf.page import page_text

    try:
        page = document[number]
    except pdfium.PdfiumError as exc:
        raise ExtractionError(f"page {number + 1} of the PDF could not be read ({exc}).") from exc
    try:
        # PDFium orders a line's characters as the page is displayed: on a
        # page turned 180 degrees by /Rotate each line came out backwards.
        # The page is read unturned (in memory only); runs.py orients each
        # line by its own writing direction instead.
        if pdfium_c.FPDFPage_GetRotation(page.raw):
            pdfium_c.FPDFPage_SetRotation(page.raw, 0)
        textpage = page.get_textpage()
        try:
            return page_text(page.raw, textpage.raw, form)
        finally:
            textpage.close()
    finally:
        page.close()
