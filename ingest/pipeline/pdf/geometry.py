"""Where things stand on a page: the crop box, and the frame a line of a
given writing direction is laid out in."""

import ctypes
import math

import pypdfium2.raw as pdfium_c

CROP_TOLERANCE = 1.0  # points: text centred on the very edge is kept


def inside(box: tuple, crop: tuple) -> bool:
    """Whether the box's middle lies in the crop box."""
    left, bottom, right, top = crop
    x = (box[0] + box[2]) / 2
    y = (box[1] + box[3]) / 2
    return (
        left - CROP_TOLERANCE <= x <= right + CROP_TOLERANCE
        and bottom - CROP_TOLERANCE <= y <= top + CROP_TOLERANCE
    )


def straddles(box: tuple, crop: tuple) -> bool:
    left, bottom, right, top = crop
    return box[0] < right and box[2] > left and box[1] < top and box[3] > bottom


def to_frame(run, angle: int):
    """The run's box turned by -angle, so that its line runs left to right."""
    x0, y0, x1, y1 = run.x0, run.y0, run.x1, run.y1
    if angle == 90:
        run.x0, run.y0, run.x1, run.y1 = y0, -x1, y1, -x0
    elif angle == 180:
        run.x0, run.y0, run.x1, run.y1 = -x1, -y1, -x0, -y0
    elif angle == 270:
        run.x0, run.y0, run.x1, run.y1 = -y1, x0, -y0, x1
    return run


def crop_box(page) -> tuple[float, float, float, float]:
    """The part of the page a viewer shows: the crop box within the media box."""
    rect = pdfium_c.FS_RECTF()
    if not pdfium_c.FPDF_GetPageBoundingBox(page, ctypes.byref(rect)):
        return (-math.inf, -math.inf, math.inf, math.inf)
    return (
        min(rect.left, rect.right),
        min(rect.bottom, rect.top),
        max(rect.left, rect.right),
        max(rect.bottom, rect.top),
    )
