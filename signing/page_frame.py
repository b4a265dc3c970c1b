"""The page as a reader sees it: its /Rotate applied (ISO 32000-2 §7.7.3.3), against the page's own user
space where a widget's /Rect lives.

Decree 30 places things at the top right of what the reader sees, and people (the console's preview, a
``--box``) point at what they see; but a page may be stored sideways and shown upright (/Rotate 90 or 270,
common in scans). Layout therefore works in *display space* — pdfminer's device space, origin at the lower
left of the page as shown, in points — and the chosen rectangle goes back to user space for the widget,
whose appearance is then turned so that it reads upright (an appearance /Matrix, §12.5.5, which every
reader applies; the NoRotate flag is not honoured alike by all of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import BaseStamp, BaseStampStyle

__all__ = ["PageFrame", "Rect", "UprightStyle"]

_DEEPEST_TREE = 64  # page-tree levels walked for inherited values; real trees have a handful
_LETTER = [0.0, 0.0, 612.0, 792.0]  # a page without any MediaBox, as readers take it


@dataclass(frozen=True)
class Rect:
    """A rectangle in points, lower left (x0, y0) to upper right (x1, y1)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    @classmethod
    def around(cls, centre_x: float, centre_y: float, width: float, height: float) -> Rect:
        return cls(centre_x - width / 2, centre_y - height / 2, centre_x + width / 2, centre_y + height / 2)

    def inside(self, other: Rect) -> bool:
        return other.x0 <= self.x0 and other.y0 <= self.y0 and self.x1 <= other.x1 and self.y1 <= other.y1


@dataclass(frozen=True)
class PageFrame:
    """A page's rotation (0, 90, 180 or 270 degrees clockwise) and its MediaBox in user space."""

    rotate: int
    media: Rect

    @classmethod
    def of(cls, writer: BasePdfFileWriter, page_index: int) -> PageFrame:
        """The frame of page ``page_index`` (from 0): /Rotate and /MediaBox, inherited from the page tree
        when the page has none (§7.7.3.4), read as pdfminer reads them for the layout."""
        reference, _ = writer.find_page_for_modification(page_index)  # type: ignore[no-untyped-call]
        node = reference.get_object()
        rotate: int | None = None
        media: list[float] | None = None
        for _ in range(_DEEPEST_TREE):
            if rotate is None and "/Rotate" in node:
                rotate = int(node["/Rotate"])
            if media is None and "/MediaBox" in node:
                media = [float(value) for value in node["/MediaBox"]]
            if "/Parent" not in node or (rotate is not None and media is not None):
                break
            node = node["/Parent"]
        return cls.from_values(rotate or 0, media or _LETTER)

    @classmethod
    def from_values(cls, rotate: int, media: list[float]) -> PageFrame:
        """As pdfminer takes them: the rotation modulo 360, any other than a quarter turn ignored."""
        turn = (rotate + 360) % 360
        x0, y0, x1, y1 = media
        return cls(
            turn if turn in (90, 180, 270) else 0, Rect(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        )

    def to_display(self, rect: Rect) -> Rect:
        """``rect`` from user space to display space."""
        return self._bounds([self._forward(x, y) for x, y in _corners(rect)])

    def to_user(self, rect: Rect) -> Rect:
        """``rect`` from display space back to user space."""
        return self._bounds([self._backward(x, y) for x, y in _corners(rect)])

    def appearance_matrix(self) -> generic.ArrayObject:
        """The /Matrix that turns an appearance drawn upright (in display orientation) into user space:
        a counter-clockwise turn by the page's rotation, which the page's clockwise one undoes."""
        cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[self.rotate]
        return generic.ArrayObject([generic.NumberObject(v) for v in (cos, sin, -sin, cos, 0, 0)])  # type: ignore[no-untyped-call]

    def _forward(self, x: float, y: float) -> tuple[float, float]:
        m = self.media  # pdfminer's PDFPageInterpreter.process_page, the same four cases
        if self.rotate == 90:
            return y - m.y0, m.x1 - x
        if self.rotate == 180:
            return m.x1 - x, m.y1 - y
        if self.rotate == 270:
            return m.y1 - y, x - m.x0
        return x - m.x0, y - m.y0

    def _backward(self, x: float, y: float) -> tuple[float, float]:
        m = self.media
        if self.rotate == 90:
            return m.x1 - y, x + m.y0
        if self.rotate == 180:
            return m.x1 - x, m.y1 - y
        if self.rotate == 270:
            return y + m.x0, m.y1 - x
        return x + m.x0, y + m.y0

    @staticmethod
    def _bounds(points: list[tuple[float, float]]) -> Rect:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return Rect(min(xs), min(ys), max(xs), max(ys))


def _corners(rect: Rect) -> list[tuple[float, float]]:
    return [(rect.x0, rect.y0), (rect.x1, rect.y1)]


@dataclass(frozen=True)
class UprightStyle(BaseStampStyle):
    """``inner``'s appearance laid out in the page's shown orientation and turned into user space, so that
    on a page shown turned (/Rotate) the signature still reads upright."""

    inner: BaseStampStyle = field(default_factory=BaseStampStyle)
    frame: PageFrame = field(default_factory=lambda: PageFrame(0, Rect(*_LETTER)))

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, Any]
    ) -> BaseStamp | None:
        sideways = self.frame.rotate in (90, 270)
        shown = layout.BoxConstraints(width=box.height, height=box.width) if sideways else box
        stamp = self.inner.create_stamp(writer, shown, text_params)
        return None if stamp is None else _TurnedStamp(stamp, self.frame.appearance_matrix())


class _TurnedStamp(BaseStamp):
    """A stamp whose form XObject carries the /Matrix that turns it with the page."""

    def __init__(self, inner: BaseStamp, matrix: generic.ArrayObject) -> None:
        assert inner.writer is not None
        super().__init__(inner.writer, inner.style, inner.box)
        self._inner = inner
        self._matrix = matrix

    def as_form_xobject(self) -> generic.StreamObject:
        xobject = self._inner.as_form_xobject()
        xobject["/Matrix"] = self._matrix
        return xobject
