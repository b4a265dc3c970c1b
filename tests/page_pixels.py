"""Judging a signature's place on the rendered page: poppler's pdftoppm draws the page (signature widgets
included) and the pixels say whether the stamp covers anything that was printed before."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from PIL import Image, ImageChops

DPI = 100
INK = 200  # a rendered pixel darker than this (0-255 grey) is ink; paper and a scan's grey are lighter


@dataclass(frozen=True)
class Widget:
    """A signature field's name and rectangle (points, lower left origin) on page ``page`` (from 0)."""

    name: str
    page: int
    rect: tuple[float, float, float, float]


def render(pdf: Path, png: Path, page: int = 1) -> Image.Image:
    """Page ``page`` (from 1) of ``pdf`` drawn at :data:`DPI` into ``png``."""
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            str(DPI),
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            str(pdf),
            str(png.with_suffix("")),
        ],
        check=True,
        timeout=60,
    )
    return Image.open(png).convert("RGB")


def signature_widgets(pdf: Path) -> list[Widget]:
    """Every signature field's widget, in the order of the form."""
    found = []
    with pikepdf.open(pdf) as document:
        pages: dict[tuple[int, int], int] = {
            page.obj.objgen: index for index, page in enumerate(document.pages)
        }
        for field in document.Root.AcroForm.Fields:
            if field.get("/FT") != "/Sig":
                continue
            x0, y0, x1, y1 = (float(value) for value in field.Rect)
            page = pages.get(field.P.objgen, 0) if "/P" in field else 0
            found.append(Widget(str(field.T), page, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))))
    return found


def pixel_box(
    picture: Image.Image, page_height: float, rect: tuple[float, float, float, float]
) -> tuple[int, int, int, int]:
    """The pixels of ``picture`` that the rectangle ``rect`` (points) covers."""
    scale = DPI / 72
    x0, y0, x1, y1 = rect
    return (
        round(x0 * scale),
        round((page_height - y1) * scale),
        round(x1 * scale),
        round((page_height - y0) * scale),
    )


def ink_pixels(picture: Image.Image) -> int:
    """How many pixels of ``picture`` are ink."""
    histogram = picture.convert("L").histogram()
    return sum(histogram[:INK])


def colour_extent(picture: Image.Image, colour: str) -> tuple[int, int, int, int] | None:
    """The bounding box (pixels) of the seal-red or signature-blue pixels of ``picture``, if any."""
    red, green, blue = picture.convert("RGB").split()
    strong, weak = (red, blue) if colour == "red" else (blue, red)
    mask = ImageChops.multiply(
        ImageChops.multiply(
            strong.point(lambda v: 255 if v > 130 else 0), green.point(lambda v: 255 if v < 110 else 0)
        ),
        weak.point(lambda v: 255 if v < 110 else 0),
    )
    return mask.getbbox()
