"""What a page already carries: its text lines and a mask of its ink, read with pdfminer.six.

Decree 30/2020 (Appendix I) puts each kind of signature in a definite part of the page: the official's
signature between the position line and the printed name, the copy mark in the top margin. To place one
there, and never over what the page already says, the page is read the way a viewer reads it: pdfminer
interprets the content stream (form XObjects included) and gives every glyph, path and image with its
bounding box, and the text lines it groups from the glyphs. The marks are drawn into a mask, one pixel
per point, so that "is this rectangle free?" is a crop of an image rather than a loop over thousands of
glyphs. A large image (a scanned page) is decoded and only its dark pixels count as ink; an image that
cannot be decoded counts as ink over its whole box.

Coordinates are PDF points in display space (:mod:`signing.page_frame`: the page as shown, /Rotate
applied, lower left origin); the page's ``frame`` takes a chosen rectangle back to user space, where
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
from pdfminer.layout import (
    LAParams,
    LTChar,
    LTComponent,
    LTContainer,
    LTCurve,
    LTFigure,
    LTImage,
    LTRect,
    LTTextLine,
)
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import LITERALS_DCT_DECODE
from PIL import Image, ImageDraw, ImageFilter

from signing.errors import DocumentRefused
from signing.page_frame import PageFrame, Rect

__all__ = ["CLEARANCE", "PageInk", "Rect", "TextLine", "normalised", "read_page"]  # Rect: page_frame's

CLEARANCE = 2.0  # points kept free around every mark: anti-aliasing, diacritics above the font's ascent
_SCAN_SHARE = 0.2  # an image over a fifth of the page is looked into (a scan); a smaller one is all ink
_DARK = 160  # a scanned pixel darker than this (0-255 grey) is ink; paper and its noise are lighter
_FREE = re.compile(rb"\x00+")
Matrix = tuple[float, float, float, float, float, float]
_UPRIGHT: Matrix = (1, 0, 0, 1, 0, 0)
# The signs of a figure matrix's a, b, c, d: how the image is shown (PIL's transpose turns anticlockwise);
# None: shown as stored
_QUARTER_TURNS: dict[tuple[int, ...], Image.Transpose | None] = {
    (1, 0, 0, 1): None,
    (0, 1, -1, 0): Image.Transpose.ROTATE_90,
    (-1, 0, 0, -1): Image.Transpose.ROTATE_180,
    (0, -1, 1, 0): Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True)
class TextLine:
    """A line of text as pdfminer grouped it, with its box."""

    text: str
    rect: Rect


def normalised(text: str) -> str:
    """Text compared as a person reads it: composed Vietnamese letters, any case, single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


class PageInk:
    """The visible area of one page, its text lines, and where ink lies on it, in display space (the page
    as shown, /Rotate applied); ``frame`` takes rectangles back to the page's user space."""

    def __init__(self, area: Rect, lines: tuple[TextLine, ...], mask: Image.Image, frame: PageFrame) -> None:
        self.area = area
        self.lines = lines
        self._mask = mask
        self.frame = frame

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
    # pdfminer lays the page out as it is shown (its /Rotate applied, origin at the shown lower left): the
    # display space of signing.page_frame, where Decree 30's top and right are the reader's.
    frame = PageFrame.from_values(page.rotate, [float(value) for value in page.mediabox])
    crop = [float(value) for value in page.cropbox]
    area = frame.to_display(
        Rect(min(crop[0], crop[2]), min(crop[1], crop[3]), max(crop[0], crop[2]), max(crop[1], crop[3]))
    )
    resources = PDFResourceManager(caching=True)
    device = PDFPageAggregator(resources, laparams=grouping)
    PDFPageInterpreter(resources, device).process_page(page)
    layout = device.get_result()
    mask = Image.new("L", (max(1, round(area.width)), max(1, round(area.height))), 0)
    ink = _InkPainter(mask, area)
    lines = tuple(ink.paint(layout))
    return PageInk(area, lines, mask, frame)


class _InkPainter:
    """Draws pdfminer's layout objects into the mask and collects the text lines on the way."""

    def __init__(self, mask: Image.Image, area: Rect) -> None:
        self._mask = mask
        self._draw = ImageDraw.Draw(mask)
        self._area = area
        self._page_size = area.width * area.height

    def paint(self, item: LTComponent, matrix: Matrix = _UPRIGHT) -> Iterator[TextLine]:
        """Mark ``item`` and what it contains; ``matrix``: the enclosing figure's, by which an image is shown."""
        if isinstance(item, LTFigure):
            matrix = item.matrix
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
            self._image(item, matrix)
        if isinstance(item, LTContainer):
            for child in item:
                yield from self.paint(child, matrix)

    @staticmethod
    def _rect(bbox: tuple[float, float, float, float]) -> Rect:
        return Rect(*bbox)

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
            area = self._area
            points = [(px - area.x0, area.y1 - py) for px, py in path.pts]
            if isinstance(path, LTRect):
                points.append(points[0])
            width = math.ceil(abs(path.linewidth) + 2 * CLEARANCE)
            self._draw.line(points, fill=255, width=width)
            for point in (points[0], points[-1]):  # line ends are square in the clearance, not cut short
                self._draw.rectangle(
                    (point[0] - width / 2, point[1] - width / 2, point[0] + width / 2, point[1] + width / 2),
                    fill=255,
                )

    @staticmethod
    def _shown(image: LTImage, rect: Rect, matrix: Matrix) -> Image.Image | None:
        """The image's dark pixels as the page shows them. pdfminer gives the shown box only; the figure's
        matrix (its page's /Rotate included) says whether the image is shown turned by a quarter — a scan
        stored sideways on a turned page, or drawn turned — and then its pixels are turned the same way.
        Anything else (a mirror, a slant) gives None, and the whole box counts as ink."""
        signs = tuple(0 if abs(v) < 1e-6 else (1 if v > 0 else -1) for v in matrix[:4])
        if signs not in _QUARTER_TURNS:
            return None
        turn = _QUARTER_TURNS[signs]
        sideways = turn in (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270)
        size = (
            (round(rect.height), round(rect.width)) if sideways else (round(rect.width), round(rect.height))
        )
        dark = _dark_pixels(image, size)
        return dark if dark is None or turn is None else dark.transpose(turn)

    def _image(self, image: LTImage, matrix: Matrix) -> None:
        rect = self._rect(image.bbox)
        large = rect.width * rect.height > _SCAN_SHARE * self._page_size
        dark = self._shown(image, rect, matrix) if large else None
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
