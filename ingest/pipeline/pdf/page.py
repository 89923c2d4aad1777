"""One page's text as it reads: runs, lines, then the order of the lines.

Lines are laid out per writing direction; the direction most of the page's
words are written in comes first, the others (a label up a chart's axis, a
stamp in the margin) after it.
"""

import itertools

from ingest.pipeline.pdf.forms import field_runs
from ingest.pipeline.pdf.geometry import crop_box, to_frame
from ingest.pipeline.pdf.lines import Line, build_lines
from ingest.pipeline.pdf.order import reading_order
from ingest.pipeline.pdf.runs import Run, page_runs

# A vertical gap between two lines of one group wider than this many line
# heights is a paragraph break.
PARAGRAPH_GAP = 0.5


def page_text(page, textpage, form) -> str:
    crop = crop_box(page)
    groups = page_runs(textpage, crop)
    values = field_runs(page, form)
    if values:
        groups.setdefault(0, []).extend(values)
    parts = []
    for angle, runs in sorted(groups.items(), key=lambda item: -len(item[1])):
        frame = _frame(crop, angle)
        parts.append(_text(reading_order(build_lines(runs), frame)))
    return "\n\n".join(part for part in parts if part)


def _frame(crop: tuple, angle: int) -> tuple[float, float, float, float]:
    """The crop box turned as the words of ``angle`` were (see runs.to_frame)."""
    left, bottom, right, top = crop
    box = to_frame(Run("", (left, bottom, right, top), 0, 0), angle)
    return box.x0, box.y0, box.x1, box.y1


def _text(groups: list[list[Line]]) -> str:
    paragraphs = []
    for group in groups:
        if not group:
            continue
        out = [group[0].text]
        for above, line in itertools.pairwise(group):
            gap = above.y0 - line.y1
            out.append("\n\n" if gap > PARAGRAPH_GAP * above.height else "\n")
            out.append(line.text)
        paragraphs.append("".join(out))
    return "\n\n".join(paragraphs)
