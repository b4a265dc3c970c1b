"""Where each kind of signature goes on the page it is put on, per Decree 30/2020 (Appendix I).

* ``approval`` — the official's signature, centred between the position line ("GIÁM ĐỐC", "KT. CHỦ TỊCH /
  PHÓ CHỦ TỊCH") and the printed name below it. The name (or another line the caller names) is looked up
  in the page's text; the signature takes the free space between it and the ink above it.
* ``issue`` — the agency's seal at its real size, over the left third of the official's signature image.
* ``copy`` / ``appendix`` — top right of page 1 inside the top margin; where the margin has no room (a
  letterhead to the edge, a scan), the first free band below it, still on the right.
* ``text`` — the lowest free place of the page, rightmost first, where the text block fits.

None of them is ever put over ink the page already carries: when no such place exists the caller is told
so and asked for a box, rather than given a guess.
"""

from __future__ import annotations

import math

from signing.errors import DocumentRefused
from signing.page_ink import CLEARANCE, PageInk, Rect, TextLine, normalised

__all__ = ["SEAL_SHARE", "approval_box", "free_box", "seal_box", "top_right_box"]

SEAL_SHARE = 1 / 3  # of the official's signature image's width that the seal covers, from its left edge
_TOP_EDGE = 12.0  # points kept from the top edge: inside a 20 mm top margin, clear of printers' borders
_BOTTOM_EDGE = 36.0  # the text block starts half an inch above the bottom edge, as before
_RIGHT_MARGIN = 42.5  # 15 mm, Decree 30's right margin: the mark ends where the page's text may end
_GAP_PADDING = 3.0  # points between the signature image and the lines above and below it
_SIGNATURE_MIN_HEIGHT = 24.0  # a signature squeezed into less is unreadable: no room, then
_TITLE_REACH = 220.0  # how far above the name a position line may stand and still be its title


def top_right_box(ink: PageInk, width: float, height: float) -> Rect:
    """The copy or appendix mark: top right, as high as the page leaves room, on the right half."""
    area = ink.area
    right = area.x1 - _RIGHT_MARGIN
    left = area.x0 + area.width / 2
    top = area.y1 - _TOP_EDGE
    while top - height >= area.y0:
        found = _rightmost(ink, Rect(left, top - height, right, top), width)
        if found is not None:
            return found
        top -= 1
    raise DocumentRefused(
        _NO_ROOM.format(what="the mark", width=width, height=height, where="the right half of the page")
    )


def free_box(ink: PageInk, width: float, height: float) -> Rect:
    """The text block: the lowest free band of the page that holds it, as far right as it goes."""
    area = ink.area
    right = area.x1 - _RIGHT_MARGIN
    bottom = area.y0 + min(_BOTTOM_EDGE, max(area.height - height, 0) / 2)
    while bottom + height <= area.y1:
        found = _rightmost(ink, Rect(area.x0, bottom, right, bottom + height), width)
        if found is not None:
            return found
        bottom += 1
    raise DocumentRefused(
        _NO_ROOM.format(what="the text block", width=width, height=height, where="the page")
    )


_NO_ROOM = (
    "{where} has no free place of {width:.0f} x {height:.0f} pt for {what} without covering "
    "its text or images; give the signature's box (x,y,w,h in points)"
)


def approval_box(ink: PageInk, anchor: str, image_size: tuple[float, float]) -> Rect:
    """The official's signature image: in the space between the line ``anchor`` names and the position
    line above it (or, when ``anchor`` names the position line itself, the name below it), centred on
    that line, at real size or smaller when the space is smaller.

    Raises DocumentRefused when the line is not on the page or there is no space beside it.
    """
    line = _anchor_line(ink, anchor)
    gap = _gap(ink, line, upwards=True) or _gap(ink, line, upwards=False)
    if gap is None:
        raise DocumentRefused(
            f"'{line.text}' has no free space of at least {_SIGNATURE_MIN_HEIGHT:.0f} pt between it and "
            "the position line for the signature; give the signature's box (x,y,w,h in points)"
        )
    centre_x = line.rect.centre[0]
    height = gap.height - 2 * _GAP_PADDING
    band = Rect(ink.area.x0, gap.y0 + _GAP_PADDING, ink.area.x1, gap.y1 - _GAP_PADDING)
    half_width = _free_half_width(ink, band, centre_x)
    image_width, image_height = image_size
    scale = min(1.0, height / image_height, 2 * half_width / image_width)
    return Rect.around(centre_x, gap.centre[1], image_width * scale, image_height * scale)


def seal_box(image: Rect, diameter: float) -> Rect:
    """The seal, ``diameter`` across, over the left third of the signature ``image``: its right edge a
    third of the way into the image, its centre at the image's height; a seal smaller than that third
    starts at the image's left edge."""
    right = image.x0 + min(image.width * SEAL_SHARE, diameter)
    return Rect.around(right - diameter / 2, image.centre[1], diameter, diameter)


def _anchor_line(ink: PageInk, anchor: str) -> TextLine:
    """The line printed as ``anchor`` (any case and spacing): one that is exactly it before one that only
    contains it, and the lowest on the page first, where signature blocks stand."""
    wanted = normalised(anchor)
    if not wanted:
        raise DocumentRefused("the line to sign at (the anchor) is empty")
    matches = [line for line in ink.lines if wanted in normalised(line.text)]
    if not matches:
        raise DocumentRefused(
            f"'{anchor}' is not printed on the page, so the place of the signature is unknown; give the "
            "line the signature goes above (anchor) or the signature's box (x,y,w,h in points)"
        )
    return min(matches, key=lambda line: (normalised(line.text) != wanted, line.rect.y0))


def _gap(ink: PageInk, line: TextLine, *, upwards: bool) -> Rect | None:
    """The free space in ``line``'s column above (or below) it, up to the next ink, if it is tall enough
    and that ink is near enough to be the line's partner (the title above, the name below)."""
    rect = line.rect
    step = 1.0 if upwards else -1.0
    edge = (rect.y1 if upwards else rect.y0) + step * (CLEARANCE + 1)  # past the line's own margin
    for distance in range(1, math.ceil(_TITLE_REACH)):
        y = edge + step * distance
        row = Rect(rect.x0, min(y, y - step), rect.x1, max(y, y - step))
        if not row.inside(ink.area):
            return None
        if not ink.is_free(row):
            far = edge + step * (distance - 1)
            if abs(far - edge) < _SIGNATURE_MIN_HEIGHT + 2 * _GAP_PADDING:
                return None
            return Rect(rect.x0, min(edge, far), rect.x1, max(edge, far))
    return None


def _free_half_width(ink: PageInk, band: Rect, centre_x: float) -> float:
    """How far the band is free on both sides of ``centre_x`` (the smaller of the two reaches)."""
    for x0, x1 in ink.free_runs(band):
        if x0 <= centre_x <= x1:
            return max(0.0, min(centre_x - x0, x1 - centre_x) - _GAP_PADDING)
    return 0.0


def _rightmost(ink: PageInk, band: Rect, width: float) -> Rect | None:
    """The rightmost ``width``-wide part of ``band`` that is free of ink, if any."""
    for x0, x1 in reversed(ink.free_runs(band)):
        if x1 - x0 >= width:
            found = Rect(x1 - width, band.y0, x1, band.y1)
            if ink.is_free(found):
                return found
    return None
