"""Excel (.xlsx, .xlsm and templates): each worksheet's name, then its rows,
cells joined by tabs, empty rows left out.

The workbook is opened by openpyxl in read-only mode, and each sheet's XML
is parsed as it is read, with openpyxl's own cell reader (shared strings,
dates, cached values of formulas). The loop over the rows is ours:
openpyxl 3.1.5's read-only loop keeps every parsed row element (cleared but
still attached to the sheet's tree) and, for rows with attributes (LibreOffice
writes them on every row), a dict per row, so its memory grows with the
sheet. Here each row is detached once read. The workbook's shared strings
are the one table kept whole, as Excel itself requires.
"""

import datetime
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ingest.pipeline.office.container import converts_damage, open_container

# Counted in cells, not rows: a row may hold one cell or sixteen thousand.
CELLS_PER_CHECKPOINT = 1000


@converts_damage("Excel workbook")
def extract_xlsx(raw: BinaryIO, *, checkpoint: Callable[[], None]) -> Iterator[str]:
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet

    open_container(raw, "xlsx").close()
    # load_workbook() without its read_worksheets() step: in read-only mode
    # that step parses each sheet lacking a <dimension> element whole, into
    # one tree, before a row can be read (openpyxl's own write-only mode
    # writes such sheets).
    reader = ExcelReader(raw, read_only=True, data_only=True, keep_links=False)
    try:
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        apply_stylesheet(reader.archive, reader.wb)
        for sheet, rel in reader.parser.find_sheets():
            if rel.target not in reader.valid_files or "chartsheet" in rel.Type:
                continue
            checkpoint()
            yield f"{sheet.name}\n"
            yield from _rows(_row_values(reader, rel.target), checkpoint)
            yield "\n"
    finally:
        reader.archive.close()


def _rows(rows, checkpoint: Callable[[], None]) -> Iterator[str]:
    cells_read = 0
    for row in rows:
        cells_read += len(row) + 1
        if cells_read >= CELLS_PER_CHECKPOINT:
            checkpoint()
            cells_read = 0
        cells = [""] * max((column for column, _value in row), default=0)
        for column, value in row:
            cells[column - 1] = _cell(value)
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            yield "\t".join(cells) + "\n"


def _row_values(reader, path: str) -> Iterator[list[tuple[int, object]]]:
    """(column, value) of each cell the sheet's XML holds, row by row.

    The rows the file has, whatever dimension it declares (some writers
    always declare A1), and no padding for rows or cells it leaves out.
    """
    from openpyxl.worksheet._reader import ROW_TAG, WorkSheetParser
    from openpyxl.xml.functions import iterparse

    book = reader.wb
    with reader.archive.open(path) as source:
        cells_reader = WorkSheetParser(
            source,
            reader.shared_strings,
            data_only=True,
            epoch=book.epoch,
            date_formats=book._date_formats,
            timedelta_formats=book._timedelta_formats,
        )
        parents = []
        for event, element in iterparse(source, events=("start", "end")):
            if event == "start":
                parents.append(element)
                continue
            parents.pop()
            if element.tag == ROW_TAG:
                _index, cells = cells_reader.parse_row(element)
                cells_reader.row_dimensions.clear()
                parents[-1].remove(element)
                yield [(cell["column"], cell["value"]) for cell in cells]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, str):
        # A tab or a line break inside a cell would read as a new cell or row.
        return " ".join(value.split())
    return str(value)
