"""Pages stored sideways and shown upright (/Rotate 90 or 270, as scanners and some exporters write them):
Decree 30 places the signature where the reader sees the top right and the signature block, and the
signature reads upright. Judged on poppler's rendering and poppler's text boxes, which apply /Rotate
themselves: the stamp is found by comparing the page drawn before and after, not from our own geometry."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageChops

from ca.signing_keys import SubscriberKey
from signing.appearance import AppearanceMode, AppearanceRequest
from tests.decree30_pages import decision_pdf, scanned_pdf
from tests.page_pixels import DPI, colour_extent, ink_pixels, render
from tests.test_placement import RENDERS, SEAL, SIGNATURE, clerk, official, services, sign

__all__ = ["clerk", "official", "services"]  # the fixtures this module borrows


def _turned_content(rotate: int, width: float, height: float) -> tuple[float, ...]:
    """The cm that stores a portrait page's content on the swapped MediaBox so that /Rotate shows it upright."""
    return (0, 1, -1, 0, height, 0) if rotate == 90 else (0, -1, 1, 0, 0, width)


def turned(source: Path, target: Path, rotate: int) -> Path:
    """``source``'s one page stored sideways (MediaBox width and height swapped, content turned back) with
    /Rotate ``rotate``: a reader shows exactly the original page."""
    with pikepdf.open(source) as document:
        page = document.pages[0]
        width, height = float(page.mediabox[2]), float(page.mediabox[3])
        matrix = _turned_content(rotate, width, height)
        page.contents_add(pikepdf.Stream(document, b"q %g %g %g %g %g %g cm\n" % matrix), prepend=True)
        page.contents_add(pikepdf.Stream(document, b"\nQ"))
        page.obj.MediaBox = pikepdf.Array([0, 0, height, width])
        if "/CropBox" in page.obj:
            del page.obj.CropBox
        page.obj.Rotate = rotate
        document.save(target)
    return target


def stamp_pixels(before: Image.Image, after: Image.Image) -> tuple[int, int, int, int]:
    """Where the signing drew (pixels of the page as shown)."""
    box = ImageChops.difference(before.convert("L"), after.convert("L")).point(lambda v: 255 if v > 40 else 0)
    found = box.getbbox()
    assert found is not None, "the signature drew nothing"
    return found


def words_of(pdf: Path, start: str) -> list[tuple[float, float, float, float]]:
    """poppler's boxes (points, top left origin of the page as shown) of the words that begin with ``start``
    (poppler keeps a stamp's line, or a line of these test pages, as one word)."""
    html = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    found = []
    for attributes, word in re.findall(r"<word ([^>]*)>([^<]+)</word>", html):
        if word.startswith(start):
            x0, y0, x1, y1 = (float(v) for v in re.findall(r'="([\d.]+)"', attributes)[:4])
            found.append((x0, y0, x1, y1))
    return found


@pytest.mark.parametrize("rotate", [90, 270])
@pytest.mark.parametrize(
    ("make", "mode"), [(decision_pdf, AppearanceMode.COPY), (scanned_pdf, AppearanceMode.TEXT)]
)
def test_a_mark_on_a_turned_page_sits_where_the_reader_looks_and_reads_upright(
    rotate: int,
    make: Callable[[Path], Path],
    mode: AppearanceMode,
    services: object,
    clerk: SubscriberKey,
    tmp_path: Path,
) -> None:
    source = turned(make(tmp_path / "upright.pdf"), tmp_path / "turned.pdf", rotate)
    signed = tmp_path / "signed.pdf"
    sign(services, clerk, source, signed, AppearanceRequest(mode))  # type: ignore[arg-type]
    name = f"turned-{rotate}-{make.__name__}-{mode}"
    before, after = render(source, RENDERS / f"{name}-before.png"), render(signed, RENDERS / f"{name}.png")
    assert before.width < before.height  # shown as the portrait page it is
    drawn = stamp_pixels(before, after)
    assert ink_pixels(before.crop(drawn)) == 0, f"the stamp at {drawn} covers the page's ink"
    if mode is AppearanceMode.COPY:
        points = [value * 72 / DPI for value in drawn]
        assert points[0] > before.width * 72 / DPI / 2 and points[1] < 57, points  # top right as shown
        marks = words_of(signed, "SAO Y")
    else:
        marks = words_of(signed, "Ký bởi")
    assert marks, "poppler finds no word of the stamp"
    for x0, y0, x1, y1 in marks:  # each word lies inside the drawing and runs left to right
        assert x1 - x0 > y1 - y0, f"a word of the stamp reads sideways: {(x0, y0, x1, y1)}"
        assert drawn[0] - 2 <= x0 * DPI / 72 and x1 * DPI / 72 <= drawn[2] + 2


def test_approval_and_seal_on_a_turned_decision(
    services: object, official: SubscriberKey, clerk: SubscriberKey, tmp_path: Path
) -> None:
    """Between the position line and the printed name as shown, and the seal over its left third."""
    source = turned(decision_pdf(tmp_path / "upright.pdf"), tmp_path / "turned.pdf", 90)
    approved, sealed = tmp_path / "approved.pdf", tmp_path / "sealed.pdf"
    sign(services, official, source, approved, AppearanceRequest(AppearanceMode.APPROVAL, image=SIGNATURE))  # type: ignore[arg-type]
    sign(services, clerk, approved, sealed, AppearanceRequest(AppearanceMode.ISSUE, image=SEAL))  # type: ignore[arg-type]
    picture = render(sealed, RENDERS / "turned-90-approval-issue.png")
    blue, red = colour_extent(picture, "blue"), colour_extent(picture, "red")
    assert blue is not None and red is not None
    assert blue[2] - blue[0] > blue[3] - blue[1], f"the signature stands sideways: {blue}"
    (title,) = words_of(source, "PHÓ GIÁM ĐỐC")
    name = max(words_of(source, "Nguyễn Văn Ánh"), key=lambda box: box[1])
    assert title[3] * DPI / 72 < blue[1] and blue[3] < name[1] * DPI / 72, (title, blue, name)
    covered = (red[2] - blue[0]) / (blue[2] - blue[0])
    assert 0.28 <= covered <= 0.38, f"the seal covers {covered:.0%} of the signature"
