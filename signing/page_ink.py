"""What a page already carries: its text lines and a mask of its ink, read with pdfminer.six.

Decree 30/2020 (Appendix I) puts each kind of signature in a definite part of the page: the official's
signature between the position line and the printed name, the copy mark in the top margin. To place one
there, and never over what the page already says, the page is read the way a viewer reads it: pdfminer
interprets the content stream (form XObjects included) and gives every glyph, path and image with its
bounding box, and the text lines it groups from the glyphs. The marks are drawn into a mask, one pixel
per point, so that "is this rectangle free?" is a crop of an image rather than a loop over thousands of
glyphs. A large image (a scanned page) is decoded and only its dark pixels count as ink; an image that
cannot be decoded counts as ink over its whole box.

Coordinates are PDF points in the page's own user space (lower left origin, /Rotate not applied), as
pyHanko expects a signature field's rectangle.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pdfminer.converter import PDFPageAggregator
from pdfminer.layout import LAParams, LTChar, LTComponent, LTContainer, LTCurve, LTImage, LTRect, LTTextLine
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import LITERALS_DCT_DECODE
from PIL import Image, ImageDraw, ImageFilter

from signing.errors import DocumentRefused

__all__ = ["CLEARANCE", "PageInk", "Rect", "TextLine", "normalised", "read_page"]

CLEARANCE = 2.0  # points kept free around every mark: anti-aliasing, diacritics above the font's ascent
_SCAN_SHARE = 0.2  # an image over a fifth of the page is looked into (a scan); a smaller one is all ink
_DARK = 160  # a scanned pixel darker than this (0-255 grey) is ink; paper and its noise are lighter
_FREE = re.compile(rb"\x00+")


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
class TextLine:
    """A line of text as pdfminer grouped it, with its box."""

    text: str
    rect: Rect


def normalised(text: str) -> str:
    """Text compared as a person reads it: composed Vietnamese letters, any case, single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


class PageInk:
    """The visible area of one page, its text lines, and where ink lies on it."""

    def __init__(self, area: Rect, lines: tuple[TextLine, ...], mask: Image.Image) -> None:
        self.area = area
        self.lines = lines
        self._mask = mask

    def is_free(self, rect: Rect) -> bool:
        """Whether ``rect`` lies on the visible page and touches no ink."""
        return rect.inside(self.area) and self._mask.crop(self._pixels(rect)).getbbox() is None

    def free_runs(self, band: Rect) -> list[tuple[float, float]]:
        """The stretches (x0, x1) of ``band``, left to right, where no ink lies at any of its heights."""
        left, top, right, bottom = self._pixels(band)
        if right <= left or bottom <= top:
            return []
        columns, _ = self._mask.crop((left, top, right, bottom)).getprojection()
        start = self.area.x0 + left
        runs = ((start + run.start(), start + run.end()) for run in _FREE.finditer(bytes(columns)))
        return [
            (max(x0, band.x0), min(x1, band.x1)) for x0, x1 in runs if min(x1, band.x1) > max(x0, band.x0)
        ]

    def _pixels(self, rect: Rect) -> tuple[int, int, int, int]:
        """The mask's pixels that ``rect`` touches (rounded outwards: a partial pixel counts)."""
        area = self.area
        left, right = int(rect.x0 - area.x0), -int(-(rect.x1 - area.x0) // 1)
        top, bottom = int(area.y1 - rect.y1), -int(-(area.y1 - rect.y0) // 1)
        return max(left, 0), max(top, 0), max(right, left, 0), max(bottom, top, 0)


def read_page(stream: BinaryIO, page_index: int, password: str | None, *, lines: bool = True) -> PageInk:
    """Read page ``page_index`` (from 0) of the PDF in ``stream``; the stream's position is kept. Without
    ``lines`` the glyphs are not grouped into text lines (a third of the time on a page of text), for
    placements that only need to know where the ink is.

    Raises DocumentRefused when pdfminer cannot interpret the page: then no free place can be known.
    """
    position = stream.tell()
    try:
        return _read(stream, page_index, password, LAParams(all_texts=True) if lines else None)
    except RecursionError:
        raise DocumentRefused(_UNREADABLE.format(detail="its content nests too deeply")) from None
    except Exception as error:  # pdfminer raises anything (KeyError, PSEOF, ...) on odd files
        detail = f"{type(error).__name__}: {str(error)[:120]}"
        raise DocumentRefused(_UNREADABLE.format(detail=detail)) from None
    finally:
        stream.seek(position)


_UNREADABLE = (
    "the page's content cannot be read to find where the signature may go ({detail}); "
    "give the signature's box (x,y,w,h in points)"
)


def _read(stream: BinaryIO, page_index: int, password: str | None, grouping: LAParams | None) -> PageInk:
    document = PDFDocument(PDFParser(stream), password=password or "")
    page = next((page for index, page in enumerate(PDFPage.create_pages(document)) if index == page_index))
    # The field's rectangle is in the page's own coordinates: read the page unrotated, and shift back the
    # MediaBox origin pdfminer moves to (0, 0).
    page.rotate = 0
    origin_x, origin_y = float(page.mediabox[0]), float(page.mediabox[1])
    crop = [float(value) for value in page.cropbox]
    area = Rect(min(crop[0], crop[2]), min(crop[1], crop[3]), max(crop[0], crop[2]), max(crop[1], crop[3]))
    resources = PDFResourceManager(caching=True)
    device = PDFPageAggregator(resources, laparams=grouping)
    PDFPageInterpreter(resources, device).process_page(page)
    layout = device.get_result()
    mask = Image.new("L", (max(1, round(area.width)), max(1, round(area.height))), 0)
    ink = _InkPainter(mask, area, (origin_x, origin_y))
    lines = tuple(ink.paint(layout))
    return PageInk(area, lines, mask)


class _InkPainter:
    """Draws pdfminer's layout objects into the mask and collects the text lines on the way."""

    def __init__(self, mask: Image.Image, area: Rect, origin: tuple[float, float]) -> None:
        self._mask = mask
        self._draw = ImageDraw.Draw(mask)
        self._area = area
        self._origin = origin
        self._page_size = area.width * area.height

    def paint(self, item: LTComponent) -> Iterator[TextLine]:
        if isinstance(item, LTTextLine):
            text = item.get_text().strip()
            if text:
                yield TextLine(text, self._rect(item.bbox))
        if isinstance(item, LTChar):
            if item.get_text().strip():
                self._mark(self._rect(item.bbox), CLEARANCE)
        elif isinstance(item, LTCurve):
            self._path(item)
        elif isinstance(item, LTImage):
            self._image(item)
        if isinstance(item, LTContainer):
            for child in item:
                yield from self.paint(child)

    def _rect(self, bbox: tuple[float, float, float, float]) -> Rect:
        x, y = self._origin
        return Rect(bbox[0] + x, bbox[1] + y, bbox[2] + x, bbox[3] + y)

    def _box(self, rect: Rect, grow: float) -> tuple[float, float, float, float]:
        area = self._area
        return (
            rect.x0 - area.x0 - grow,
            area.y1 - rect.y1 - grow,
            rect.x1 - area.x0 + grow,
            area.y1 - rect.y0 + grow,
        )

    def _mark(self, rect: Rect, grow: float) -> None:
        self._draw.rectangle(self._box(rect, grow), fill=255)

    def _path(self, path: LTCurve) -> None:
        """A filled path inks its whole box; a stroked one only along its points (a page's frame leaves
        its inside free)."""
        if path.fill and not _white(path.non_stroking_color):
            self._mark(self._rect(path.bbox), CLEARANCE)
        elif path.stroke and not _white(path.stroking_color) and path.pts:
            x, y = self._origin
            area = self._area
            points = [(px + x - area.x0, area.y1 - (py + y)) for px, py in path.pts]
            if isinstance(path, LTRect):
                points.append(points[0])
            width = math.ceil(abs(path.linewidth) + 2 * CLEARANCE)
            self._draw.line(points, fill=255, width=width)
            for point in (points[0], points[-1]):  # line ends are square in the clearance, not cut short
                self._draw.rectangle(
                    (point[0] - width / 2, point[1] - width / 2, point[0] + width / 2, point[1] + width / 2),
                    fill=255,
                )

    def _image(self, image: LTImage) -> None:
        rect = self._rect(image.bbox)
        large = rect.width * rect.height > _SCAN_SHARE * self._page_size
        dark = _dark_pixels(image, (round(rect.width), round(rect.height))) if large else None
        if dark is None:
            self._mark(rect, CLEARANCE)
            return
        left, top, right, bottom = (round(value) for value in self._box(rect, 0))
        if right <= left or bottom <= top:
            return
        scaled = dark.resize((right - left, bottom - top), Image.Resampling.BOX)
        # Grown by the clearance: a box blur spreads each ink pixel over its neighbours (much faster than
        # a max filter), and whatever it reached counts.
        grown = scaled.point(lambda value: 255 if value else 0).filter(ImageFilter.BoxBlur(CLEARANCE))
        self._mask.paste(255, (left, top), grown.point(lambda value: 255 if value else 0))


def _white(colour: object) -> bool:
    if isinstance(colour, int | float):
        return float(colour) >= 1.0
    if isinstance(colour, tuple | list) and all(isinstance(part, int | float) for part in colour):
        parts = [float(part) for part in colour]
        if len(parts) == 4:  # CMYK: no ink at all
            return all(part <= 0.0 for part in parts)
        return bool(parts) and all(part >= 1.0 for part in parts)
    return False


def _dark_pixels(image: LTImage, size: tuple[int, int]) -> Image.Image | None:
    """A scan's dark pixels as an 'L' image (255 = ink), or None when the image cannot be decoded here."""
    stream = image.stream
    width, height = image.srcsize
    filters = stream.get_filters()
    try:
        picture: Image.Image | None = None
        if filters and filters[-1][0] in LITERALS_DCT_DECODE:
            picture = Image.open(io.BytesIO(stream.get_data()))
            picture.draft("L", size)  # JPEG decodes at 1/2, 1/4 or 1/8 scale: enough for a point-sized mask
            picture.load()
        elif all(name not in LITERALS_DCT_DECODE for name, _ in filters):
            picture = _raw_picture(stream.get_data(), image, int(width), int(height))
    except (OSError, ValueError, TypeError):
        return None
    if picture is None:
        return None
    return picture.convert("L").point(lambda value: 255 if value < _DARK else 0)


def _raw_picture(data: bytes, image: LTImage, width: int, height: int) -> Image.Image | None:
    """Decoded samples in DeviceGray or DeviceRGB; other colour spaces and bit depths are not looked into."""
    space = str(image.colorspace[0]) if image.colorspace else ""
    bits = int(image.bits or 8)
    if image.imagemask or _has_decode(image):
        return None
    if bits == 8 and "DeviceGray" in space:
        return Image.frombytes("L", (width, height), data)
    if bits == 8 and "DeviceRGB" in space:
        return Image.frombytes("RGB", (width, height), data)
    if bits == 1 and "DeviceGray" in space:
        return Image.frombytes("1", (width, height), data)
    return None


def _has_decode(image: LTImage) -> bool:
    return image.stream.get_any(("D", "Decode")) is not None
