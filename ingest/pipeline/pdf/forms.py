"""The values typed or chosen in a PDF's form fields (AcroForm).

A filled-in field's value is not page content: a viewer draws it from the
field's widget annotation, which PDFium's text page does not read. Each
text field's and list's value becomes a run placed at its widget, so
layout puts it beside its label like any other text. Check boxes, radio
buttons and push buttons are left out: what a reader sees there is a tick
or a button, not words.
"""

import ctypes

import pypdfium2.raw as pdfium_c

from ingest.pipeline.pdf.runs import Run

VALUE_FIELDS = (
    pdfium_c.FPDF_FORMFIELD_TEXTFIELD,
    pdfium_c.FPDF_FORMFIELD_COMBOBOX,
    pdfium_c.FPDF_FORMFIELD_LISTBOX,
)
# Content order for the values: after every character of the page.
FIELD_ORDER = 1 << 30


def form_handle(document):
    """The document's form environment, or None when it has no AcroForm.
    Must be made before the first page is loaded."""
    document.init_forms()
    return document.formenv.raw if document.formenv else None


def field_runs(page, form) -> list[Run]:
    """The page's field values, one run per line of each value."""
    runs: list[Run] = []
    if form is None:
        return runs
    seen: set[tuple[str, str]] = set()
    for index in range(pdfium_c.FPDFPage_GetAnnotCount(page)):
        annot = pdfium_c.FPDFPage_GetAnnot(page, index)
        if not annot:
            continue
        try:
            runs.extend(_value_runs(form, annot, seen, len(runs)))
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return runs


def _value_runs(form, annot, seen: set, number: int) -> list[Run]:
    if pdfium_c.FPDFAnnot_GetSubtype(annot) != pdfium_c.FPDF_ANNOT_WIDGET:
        return []
    if pdfium_c.FPDFAnnot_GetFormFieldType(form, annot) not in VALUE_FIELDS:
        return []
    value = _string(pdfium_c.FPDFAnnot_GetFormFieldValue, form, annot).strip()
    name = _string(pdfium_c.FPDFAnnot_GetFormFieldName, form, annot)
    # A field shown by several widgets on one page is read once.
    if not value or (name, value) in seen:
        return []
    seen.add((name, value))
    rect = pdfium_c.FS_RECTF()
    if not pdfium_c.FPDFAnnot_GetRect(annot, ctypes.byref(rect)):
        return []
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    left, right = min(rect.left, rect.right), max(rect.left, rect.right)
    top = max(rect.top, rect.bottom)
    height = (top - min(rect.top, rect.bottom)) / max(len(lines), 1)
    return [
        Run(
            line,
            (left, top - (i + 1) * height, right, top - i * height),
            FIELD_ORDER + number + i,
            -1 - number - i,
        )
        for i, line in enumerate(lines)
    ]


def _string(function, form, annot) -> str:
    size = function(form, annot, None, 0)
    if size <= 2:
        return ""
    buffer = (ctypes.c_ushort * (size // 2))()
    function(form, annot, buffer, size)
    return bytes(buffer).decode("utf-16-le", errors="replace").rstrip("\x00")
