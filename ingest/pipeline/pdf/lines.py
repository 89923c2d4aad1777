"""Runs into lines: what a reader takes in one sweep along a baseline.

Runs on one baseline that nearly touch are joined into one line, whatever
order the content drew them in (a label, its value drawn later, a word in
bold drawn apart), left to right, or right to left for a right-to-left
script. Runs further apart stay separate lines: the layout decides whether
they are columns or a table's cells.
"""

from ingest.pipeline.pdf.bidi import is_rtl
from ingest.pipeline.pdf.forms import FIELD_ORDER
from ingest.pipeline.pdf.runs import WIDE_GAP, Run

# Runs whose heights overlap by this share of the smaller one share a baseline.
SAME_ROW = 0.5
# Runs PDFium drew apart join when the gap between them is under this many
# line heights: two columns' lines side by side are about a line apart.
TOUCHING = 0.6


class Line:
    __slots__ = ("order", "rtl", "text", "x0", "x1", "y0", "y1")

    def __init__(self, runs: list[Run], rtl: bool):
        self.text = " ".join(run.text for run in runs)
        self.x0 = min(run.x0 for run in runs)
        self.x1 = max(run.x1 for run in runs)
        self.y0 = min(run.y0 for run in runs)
        self.y1 = max(run.y1 for run in runs)
        self.order = min(run.order for run in runs)
        self.rtl = rtl

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def middle(self) -> float:
        return (self.y0 + self.y1) / 2


def build_lines(runs: list[Run]) -> list[Line]:
    return [line for row in _rows(runs) for line in _joined(row)]


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return min(a1, b1) - max(a0, b0)


def _rows(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped by baseline, top row first. A row is measured by the
    run that opened it, so that rows do not chain down a page through
    lines whose loose boxes overlap a little."""
    rows: list[tuple[float, float, list[Run]]] = []
    for run in sorted(runs, key=lambda run: -run.y1):
        for row_y0, row_y1, members in reversed(rows[-3:]):
            height = min(run.height, row_y1 - row_y0) or 1.0
            if _overlap(run.y0, run.y1, row_y0, row_y1) >= SAME_ROW * height:
                members.append(run)
                break
        else:
            rows.append((run.y0, run.y1, [run]))
    return [members for _y0, _y1, members in rows]


def _joined(row: list[Run]) -> list[Line]:
    """The runs of one row as lines: runs that nearly touch join, left to
    right (right to left for a right-to-left script)."""
    if len(row) == 1:
        return [Line(row, is_rtl(row[0].text))]
    rtl = is_rtl(" ".join(run.text for run in row))
    row = sorted(row, key=lambda run: run.x0)
    lines: list[list[Run]] = [[row[0]]]
    for run in row[1:]:
        previous = lines[-1][-1]
        height = max(previous.height, run.height)
        gap = run.x0 - previous.x1
        # A form field's value sits in its box, which starts a little after
        # the label; anything else joins only what it nearly touches.
        reach = WIDE_GAP if max(run.order, previous.order) >= FIELD_ORDER else TOUCHING
        # Runs that overlap across are on different baselines, not one line.
        if -TOUCHING * height <= gap <= reach * height:
            lines[-1].append(run)
        else:
            lines.append([run])
    if rtl:
        return [Line(runs[::-1], True) for runs in lines]
    return [Line(runs, False) for runs in lines]
