"""The order a reader takes a page's lines in: a recursive XY cut.

A region of the page is cut at its white space:
- across, into bands, where no line crosses a horizontal gap; consecutive
  bands that share a column gutter are kept together, so that paragraph
  breaks that happen to line up in two columns do not interleave them;
  a page's first and last bands stay apart when they sit in its margins
  (running headers and footers, read where they stand);
- across first where a gap is high enough to end a section;
- down, into columns, where no line crosses a vertical gap, read left to
  right (right to left where the region's script is), each one whole.

A vertical gap does not always mean columns: a table, a form or a list
with hanging numbers has one too. Its lines pair up across the gap row by
row, and its producer drew them row by row; when both hold, the region is
read row by row instead. Two columns of text drawn one after the other stay
columns, whichever of them the producer drew first.
"""

import itertools
from statistics import median

from ingest.pipeline.pdf.lines import SAME_ROW, Line

# Cuts within cuts before a region is simply read row by row.
MAX_DEPTH = 40
# A vertical gap narrower than this many line heights is not a gutter.
GUTTER = 0.5
# Share of a line's height above and below its core (see _split).
CORE = 0.25
# Gaps between a table's bands this much (in line heights) wider than the
# narrowest are gaps between rows; the narrowest are a cell's wrapped lines.
ROW_GAP = 0.25
# A horizontal gap across the whole region this many line heights high
# ends a section (cards above, notes below; a picture across columns):
# what is above it is read before what is below, columns or not.
SECTION = 2.0
# A band in the top or bottom share of the page, this far from the rest,
# is a running header or footer.
MARGIN_SHARE = 0.12
MARGIN_GAP = 0.6
# Lines that face each other at least this often across a gap, drawn going
# back and forth across it at least this often per line, are a table's
# rows (a two-column table drawn row by row crosses once per line, a list
# whose items run to three lines about once per two).
PAIRED = 0.5
SWITCHES = 0.3


def reading_order(lines: list[Line], page: tuple[float, float, float, float]) -> list[list[Line]]:
    """Groups of lines (a paragraph, a column, a table's rows) in reading order."""
    if not lines:
        return []
    bands = _split(lines, axis=1, minimum=0.0)
    margins = _margin_bands(bands, page)
    head = [bands[0]] if 0 in margins else []
    foot = [bands[-1]] if len(bands) - 1 in margins else []
    body = [line for band in bands[len(head) : len(bands) - len(foot)] for line in band]
    ordered = [_rows_in_order(band) for band in head]
    if body:
        ordered.extend(_order(body))
    ordered.extend(_rows_in_order(band) for band in foot)
    return ordered


def _order(lines: list[Line], depth: int = 0) -> list[list[Line]]:
    # Each cut leaves smaller regions; a page that keeps cutting (a
    # staircase of lines, a scatter of labels) is read by rows past a depth.
    if len(lines) <= 1 or depth > MAX_DEPTH:
        return [_rows_in_order(lines)]
    height = median(line.height for line in lines) or 1.0
    sections = _split(lines, axis=1, minimum=SECTION * height)
    if len(sections) > 1:
        return [group for section in sections for group in _order(section, depth + 1)]
    columns = _split(lines, axis=0, minimum=GUTTER * height)
    if len(columns) > 1:
        if _row_by_row(columns, height):
            return [_table_in_order(columns, height)]
        if _right_to_left(lines):
            columns.reverse()
        return [group for column in columns for group in _order(column, depth + 1)]
    bands = _split(lines, axis=1, minimum=0.0)
    if len(bands) == 1:
        return [_rows_in_order(lines)]
    groups = _grouped_bands(bands, height)
    if len(groups) == 1:
        return [_rows_in_order(lines)]
    return [group for band in groups for group in _order(band, depth + 1)]


def _split(lines: list[Line], *, axis: int, minimum: float) -> list[list[Line]]:
    """The lines cut at every gap wider than ``minimum`` along ``axis``
    (0: gaps between columns, left to right; 1: between bands, top down)."""
    if axis == 0:
        spans = sorted(lines, key=lambda line: line.x0)
        start, end = (lambda line: line.x0), (lambda line: line.x1)
    else:
        # A line's core: loose boxes (ascent to descent) of consecutive
        # lines overlap in fonts with tall ascenders, leaving no gap to cut.
        spans = sorted(lines, key=lambda line: -line.y1)
        start = lambda line: -(line.y1 - CORE * line.height)  # noqa: E731
        end = lambda line: -(line.y0 + CORE * line.height)  # noqa: E731
    parts: list[list[Line]] = [[spans[0]]]
    reach = end(spans[0])
    for line in spans[1:]:
        if start(line) - reach > minimum:
            parts.append([line])
        else:
            parts[-1].append(line)
        reach = max(reach, end(line))
    return parts


def _coverage(lines: list[Line]) -> list[tuple[float, float]]:
    """The x intervals the lines cover, merged."""
    covered: list[tuple[float, float]] = []
    for line in sorted(lines, key=lambda line: line.x0):
        if covered and line.x0 <= covered[-1][1]:
            covered[-1] = (covered[-1][0], max(covered[-1][1], line.x1))
        else:
            covered.append((line.x0, line.x1))
    return covered


def _merged(a: list[tuple[float, float]], b: list[tuple[float, float]]):
    covered: list[tuple[float, float]] = []
    for x0, x1 in sorted(a + b):
        if covered and x0 <= covered[-1][1]:
            covered[-1] = (covered[-1][0], max(covered[-1][1], x1))
        else:
            covered.append((x0, x1))
    return covered


def _gutters(covered: list[tuple[float, float]], minimum: float) -> list[tuple[float, float]]:
    return [(a[1], b[0]) for a, b in itertools.pairwise(covered) if b[0] - a[1] > minimum]


def _grouped_bands(bands: list[list[Line]], height: float) -> list[list[Line]]:
    """Consecutive bands joined while they share a column structure: a band
    without gutters joins a group without gutters (one column flowing on);
    any band joins a group whose gutters it leaves open (columns flowing
    on, one of them ending first); anything else starts a new group (a
    title above columns, a figure across them, columns under a title)."""
    minimum = GUTTER * height
    groups: list[list[Line]] = []
    covered: list[tuple[float, float]] = []
    for band in bands:
        band_covered = _coverage(band)
        together = _merged(covered, band_covered)
        if groups and _continues(covered, band_covered, together, minimum):
            groups[-1].extend(band)
            covered = together
            continue
        groups.append(list(band))
        covered = band_covered
    return groups


def _continues(covered, band_covered, together, minimum: float) -> bool:
    gutters = _gutters(covered, minimum)
    if not gutters:
        return not _gutters(band_covered, minimum)
    return any(min(b, d) > max(a, c) for a, b in gutters for c, d in _gutters(together, minimum))


def _margin_bands(bands: list[list[Line]], page) -> set[int]:
    """Indexes of the first and last bands when they are a page's running
    header or footer: in its top or bottom margin, apart from the body."""
    _left, bottom, _right, top = page
    reach = (top - bottom) * MARGIN_SHARE
    found = set()
    if len(bands) < 2:
        return found
    first, second = bands[0], bands[1]
    head_low = min(line.y0 for line in first)
    head_height = max(line.height for line in first)
    if (
        top - head_low <= reach
        and head_low - max(line.y1 for line in second) >= MARGIN_GAP * head_height
    ):
        found.add(0)
    last, before = bands[-1], bands[-2]
    foot_high = max(line.y1 for line in last)
    foot_height = max(line.height for line in last)
    if foot_high - bottom <= reach and min(line.y0 for line in before) - foot_high >= MARGIN_GAP * (
        foot_height
    ):
        found.add(len(bands) - 1)
    return found


def _row_by_row(columns: list[list[Line]], height: float) -> bool:
    """Whether lines side by side face each other and were drawn row by row:
    a table or a form, not columns of text."""
    paired = 0
    for left, right in itertools.pairwise(columns):
        middles = sorted(line.middle for line in right)
        paired += sum(1 for line in left if _near(middles, line.middle, 0.3 * height))
    smaller = sum(min(len(a), len(b)) for a, b in itertools.pairwise(columns))
    if paired < PAIRED * smaller:
        return False
    column_of = {id(line): number for number, column in enumerate(columns) for line in column}
    drawn = sorted((line for column in columns for line in column), key=lambda line: line.order)
    switches = sum(1 for a, b in itertools.pairwise(drawn) if column_of[id(a)] != column_of[id(b)])
    return switches >= SWITCHES * len(drawn) and switches > len(columns) - 1


def _near(sorted_values: list[float], value: float, tolerance: float) -> bool:
    from bisect import bisect_left

    index = bisect_left(sorted_values, value - tolerance)
    return index < len(sorted_values) and sorted_values[index] <= value + tolerance


def _right_to_left(lines: list[Line]) -> bool:
    return sum(line.rtl for line in lines) * 2 > len(lines)


def _table_in_order(columns: list[list[Line]], height: float) -> list[Line]:
    """A table's lines row by row, each row's cells left to right (right to
    left in a right-to-left script), a cell's lines together.

    A row ends at a gap across the table; where a cell's text wraps, the
    gaps between its lines are narrower than the gaps between rows (cell
    padding, rules), and do not end the row."""
    bands = _split([line for column in columns for line in column], axis=1, minimum=0.0)
    gaps = [_core_gap(above, below) for above, below in itertools.pairwise(bands)]
    wrapped = max(gaps, default=0.0) > min(gaps, default=0.0) + ROW_GAP * height
    rows: list[list[Line]] = [list(bands[0])]
    for band, gap in zip(bands[1:], gaps, strict=True):
        if wrapped and gap <= min(gaps) + ROW_GAP * height:
            rows[-1].extend(band)
        else:
            rows.append(list(band))
    ordered: list[Line] = []
    rtl = _right_to_left([line for row in rows for line in row])
    for row in rows:
        # The row's own cells: its lines side by side, each cell's lines top down.
        cells = _split(row, axis=0, minimum=GUTTER * height)
        for cell in reversed(cells) if rtl else cells:
            ordered.extend(sorted(cell, key=lambda line: (-line.y1, line.x0)))
    return ordered


def _core_gap(above: list[Line], below: list[Line]) -> float:
    bottom = min(line.y0 + CORE * line.height for line in above)
    top = max(line.y1 - CORE * line.height for line in below)
    return bottom - top


def _rows_in_order(lines: list[Line]) -> list[Line]:
    """Top row first, each row left to right (right to left for its script)."""
    ordered: list[Line] = []
    row: list[Line] = []
    row_y0 = row_y1 = 0.0
    for line in sorted(lines, key=lambda line: (-line.y1, line.x0)):
        height = min(line.height, row_y1 - row_y0) or 1.0
        if row and min(line.y1, row_y1) - max(line.y0, row_y0) >= SAME_ROW * height:
            row.append(line)
            row_y0, row_y1 = min(row_y0, line.y0), max(row_y1, line.y1)
            continue
        ordered.extend(_across(row))
        row, row_y0, row_y1 = [line], line.y0, line.y1
    ordered.extend(_across(row))
    return ordered


def _across(row: list[Line]) -> list[Line]:
    row = sorted(row, key=lambda line: line.x0)
    return row[::-1] if _right_to_left(row) else row
