"""What a person should see when a signed document was changed after signing: the revision the signer
signed, exactly as signed, and its pages next to the current file's with the changed regions boxed in red.

A PDF signature covers the file up to the end of its ``/ByteRange`` (ISO 32000-2, 12.8.1); everything after
is later incremental updates. Those bytes are the *signed revision*: a PDF of their own, on which the
signature still verifies, whatever was appended since (:func:`signed_revision`). A shadow attack (an object
swapped in a later update so that the page shows something else) leaves the signature's bytes intact and is
only told by comparing what the pages look like: both are drawn by poppler's ``pdftoppm`` at the same
resolution and compared with Pillow (:func:`compare_page`); :func:`pages_that_differ` says which pages to
compare.

Drawing untrusted PDFs: each ``pdftoppm`` run has a time limit, its pages' size is read first (poppler's
``pdfinfo``) and a drawing larger than :data:`MOST_PIXELS` is refused, at most :data:`MOST_PAGES` are
compared, and one comparison (its poppler runs, the pixels compared and the images encoded) runs at a time
in a process (a request that waits too long for its turn is told to try again): a file of a few kilobytes
(forms drawing forms, ten times each, seven deep) keeps pdftoppm busy past its time limit, a page of noise
the size of A0 costs seconds of Python, and anyone may upload either.
"""

from __future__ import annotations

import functools
import io
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ParamSpec, TypeVar

from PIL import Image, ImageChops, ImageDraw
from pyhanko.pdf_utils.reader import PdfFileReader

from signing.errors import DrawingBusy, InvalidDocument
from signing.validation.context import MALFORMED

__all__ = [
    "DPI",
    "MOST_PAGES",
    "MOST_PIXELS",
    "Box",
    "PageDifference",
    "compare_page",
    "pages_that_differ",
    "signed_revision",
]

DPI = 100  # pixels per inch of the images compared and returned
MOST_PAGES = 50  # pages :func:`pages_that_differ` compares at most
# pixels one drawing may have (A0 at DPI is 15.5 million): a page may be 200 inches square (14,400 pt),
# which pdftoppm would draw in 1.2 GB at DPI, for anyone who uploads one
MOST_PIXELS = 20_000_000
_SURVEY_DPI = 30  # enough to see that a page differs, cheap enough to draw every page
_CHANGED = 48  # a pixel whose colour moved more than this (0-255, any channel) has changed
_CELL = 6  # changed pixels are grouped in cells of this many pixels; neighbouring cells form one region
# regions closer than this many cells are one box: along a line, past an unchanged character or two of the
# same amount (990,000,000 over 10,000,000 keeps a "0" in place); across lines, only neighbouring lines
_GAP_ALONG, _GAP_ACROSS = 5, 2
_RENDER_SECONDS = 60  # for all the pages of one drawing
_WAIT_SECONDS = 10  # for the turn to draw, before the request is told to come back
_drawing = threading.Lock()  # one comparison at a time per process: drawing cannot take every core
_RED = (220, 0, 0)
_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True)
class Box:
    """A changed region in pixels of the images at :data:`DPI`, from the top left corner."""

    left: int
    top: int
    right: int
    bottom: int

    def points(self) -> tuple[float, float, float, float]:
        """The region in PDF points (1/72 inch), still from the top left corner of the page."""
        scale = 72 / DPI
        return (self.left * scale, self.top * scale, self.right * scale, self.bottom * scale)


@dataclass(frozen=True)
class PageDifference:
    """Page ``page`` (from 1) of a signature's signed revision and of the current file, drawn at :data:`DPI`
    as PNG images with every changed region boxed in red (``boxes``, the same in both images)."""

    page: int
    boxes: tuple[Box, ...]
    signed_png: bytes
    current_png: bytes

    def side_by_side_png(self) -> bytes:
        """The two images in one, the signed revision on the left."""
        signed, current = Image.open(io.BytesIO(self.signed_png)), Image.open(io.BytesIO(self.current_png))
        margin = DPI // 5
        both = Image.new(
            "RGB", (signed.width + margin + current.width, max(signed.height, current.height)), "white"
        )
        both.paste(signed, (0, 0))
        both.paste(current, (signed.width + margin, 0))
        return _png(both)


def signed_revision(source: Path, field_name: str) -> bytes:
    """The bytes the signature in ``field_name`` covers, up to the end of its ``/ByteRange``: the document as
    its signer signed it."""
    with source.open("rb") as stream:
        byte_range = _byte_range(stream, field_name)
        start, _, later, length = byte_range
        end = later + length
        if start != 0 or end > source.stat().st_size:
            raise InvalidDocument(
                f"the signature in {field_name} covers a byte range this file does not have"
            )
        stream.seek(0)
        return stream.read(end)


def _byte_range(stream: BinaryIO, field_name: str) -> list[int]:
    try:
        for signature in PdfFileReader(stream, strict=False).embedded_signatures:
            if str(signature.field_name) == field_name:
                return [int(n) for n in signature.sig_object["/ByteRange"]]
    except MALFORMED as error:
        raise InvalidDocument(f"the PDF or its signatures cannot be read ({type(error).__name__})") from None
    raise InvalidDocument(f"this document has no signature in a field named {field_name!r}")


def _one_at_a_time(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` run in this process's turn to draw, or :class:`DrawingBusy` after :data:`_WAIT_SECONDS`."""

    @functools.wraps(function)
    def in_turn(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not _drawing.acquire(timeout=_WAIT_SECONDS):
            raise DrawingBusy("other documents are being drawn; try again in a few seconds")
        try:
            return function(*args, **kwargs)
        finally:
            _drawing.release()

    return in_turn


@_one_at_a_time
def pages_that_differ(source: Path, field_name: str) -> list[int]:
    """The pages (from 1) that look different in the current file from the revision ``field_name`` signed,
    among the first :data:`MOST_PAGES`; a page only one of them has differs."""
    with _revision_and_current(source, field_name) as (revision, current):
        signed_pages, current_pages = _page_count(revision), _page_count(current)
        pages = min(max(signed_pages, current_pages), MOST_PAGES)
        before = _draw(revision, 1, min(signed_pages, pages), _SURVEY_DPI)
        after = _draw(current, 1, min(current_pages, pages), _SURVEY_DPI)
    return [
        page
        for page in range(1, pages + 1)
        if page > min(len(before), len(after)) or _changed_mask(before[page - 1], after[page - 1]).getbbox()
    ]


@_one_at_a_time
def compare_page(source: Path, field_name: str, page: int) -> PageDifference:
    """Page ``page`` (from 1) as signed in ``field_name`` and as it is now, the changes boxed in red."""
    with _revision_and_current(source, field_name) as (revision, current):
        drawn = [
            _draw(pdf, page, page, DPI) if page <= _page_count(pdf) else [] for pdf in (revision, current)
        ]
    if not any(drawn):
        raise InvalidDocument(f"this document has no page {page}")
    size = (max(i.width for d in drawn for i in d), max(i.height for d in drawn for i in d))
    before, after = (_on_paper(d[0] if d else None, size) for d in drawn)
    boxes = _regions(_changed_mask(before, after))
    return PageDifference(page, boxes, _png(_boxed(before, boxes)), _png(_boxed(after, boxes)))


@contextmanager
def _revision_and_current(source: Path, field_name: str) -> Iterator[tuple[Path, Path]]:
    """The signed revision, in a private temporary file for ``pdftoppm``, and the current file."""
    data = signed_revision(source, field_name)
    with tempfile.TemporaryDirectory(prefix="revision-") as folder:
        revision = Path(folder) / "revision.pdf"
        revision.write_bytes(data)
        yield revision, source


def _page_count(pdf: Path) -> int:
    with pdf.open("rb") as stream:
        try:
            return int(PdfFileReader(stream, strict=False).root["/Pages"]["/Count"])
        except MALFORMED as error:
            raise InvalidDocument(f"the PDF's pages cannot be read ({type(error).__name__})") from None


def _draw(pdf: Path, first: int, last: int, dpi: int) -> list[Image.Image]:
    """Pages ``first`` to ``last`` drawn by pdftoppm in one run (none when ``last`` is before ``first``)."""
    if last < first:
        return []
    pages = ["-f", str(first), "-l", str(last)]
    _refuse_too_large(_poppler(["pdfinfo", "-box", *pages, str(pdf)]), last - first + 1, dpi)
    with tempfile.TemporaryDirectory(prefix="pages-") as folder:
        _poppler(["pdftoppm", "-png", "-r", str(dpi), *pages, str(pdf), f"{folder}/p"])
        # pdftoppm numbers its files with as many digits as the last page has: their names sort in page order
        return [Image.open(png).convert("RGB") for png in sorted(Path(folder).glob("p-*.png"))]


def _poppler(command: list[str]) -> str:
    """A poppler tool's output, within the time limit; its failure is the document's."""
    try:
        run = subprocess.run(command, capture_output=True, check=True, timeout=_RENDER_SECONDS)
    except subprocess.TimeoutExpired:
        raise InvalidDocument(f"the pages took longer than {_RENDER_SECONDS} s to draw") from None
    except subprocess.CalledProcessError as error:
        raise InvalidDocument(f"the pages cannot be drawn ({command[0]}: {error.stderr[:200]!r})") from None
    return run.stdout.decode("latin-1")


def _refuse_too_large(info: str, pages: int, dpi: int) -> None:
    """Refuse a drawing of more than :data:`MOST_PIXELS`, from ``pdfinfo -box``'s media boxes (what pdftoppm
    draws; a page whose size cannot be read counts as too large)."""
    # "Page    1 MediaBox:  0.00  0.00  595.00  842.00"; a title that forges such a line adds one
    boxes = [words[3:] for words in map(str.split, info.splitlines()) if words[:3:2] == ["Page", "MediaBox:"]]
    if len(boxes) != pages or any(len(box) != 4 for box in boxes):
        raise InvalidDocument("the size of the pages cannot be read")
    scale = (dpi / 72) ** 2
    pixels = sum(abs(float(x1) - float(x0)) * abs(float(y1) - float(y0)) * scale for x0, y0, x1, y1 in boxes)
    if pixels > MOST_PIXELS:
        raise InvalidDocument(
            f"the pages are too large to draw ({pixels / 1e6:.0f} million pixels at {dpi} dpi, "
            f"{MOST_PIXELS / 1e6:.0f} million at most)"
        )


def _on_paper(image: Image.Image | None, size: tuple[int, int]) -> Image.Image:
    """``image`` on white paper of ``size`` (a missing page is blank paper)."""
    paper = Image.new("RGB", size, "white")
    if image is not None:
        paper.paste(image, (0, 0))
    return paper


def _changed_mask(before: Image.Image, after: Image.Image) -> Image.Image:
    """A black-and-white image: white where the two pages differ by more than :data:`_CHANGED`."""
    if before.size != after.size:
        size = (max(before.width, after.width), max(before.height, after.height))
        before, after = _on_paper(before, size), _on_paper(after, size)
    difference = ImageChops.difference(before, after)
    strongest = ImageChops.lighter(ImageChops.lighter(*difference.split()[:2]), difference.split()[2])
    return strongest.point(lambda value: 255 if value > _CHANGED else 0, mode="1")


def _regions(mask: Image.Image) -> tuple[Box, ...]:
    """The changed regions of ``mask`` as boxes: changed pixels gathered in cells, neighbouring cells (within
    the gaps) joined, each group's bounds."""
    columns, rows = -(-mask.width // _CELL), -(-mask.height // _CELL)
    cells = mask.convert("L").resize((columns, rows), Image.Resampling.BOX)
    changed = {(x, y) for y in range(rows) for x in range(columns) if cells.getpixel((x, y))}
    boxes = []
    while changed:
        group = list(_flood(changed, changed.pop()))
        xs, ys = [x for x, _ in group], [y for _, y in group]
        boxes.append(
            Box(
                min(xs) * _CELL,
                min(ys) * _CELL,
                min((max(xs) + 1) * _CELL, mask.width),
                min((max(ys) + 1) * _CELL, mask.height),
            )
        )
    return tuple(sorted(boxes, key=lambda box: (box.top, box.left)))


def _flood(changed: set[tuple[int, int]], start: tuple[int, int]) -> Iterator[tuple[int, int]]:
    """The cells reachable from ``start`` by steps within the gaps, removed from ``changed``."""
    waiting = [start]
    while waiting:
        x, y = waiting.pop()
        yield x, y
        near = [
            (x + dx, y + dy)
            for dx in range(-_GAP_ALONG, _GAP_ALONG + 1)
            for dy in range(-_GAP_ACROSS, _GAP_ACROSS + 1)
            if (x + dx, y + dy) in changed
        ]
        changed.difference_update(near)
        waiting.extend(near)


def _boxed(image: Image.Image, boxes: tuple[Box, ...]) -> Image.Image:
    boxed = image.copy()
    pen = ImageDraw.Draw(boxed)
    width = max(2, DPI // 40)
    for box in boxes:
        pen.rectangle(
            (box.left - width, box.top - width, box.right + width, box.bottom + width),
            outline=_RED,
            width=width,
        )
    return boxed


def _png(image: Image.Image) -> bytes:
    output = io.BytesIO()
    image.save(output, format="PNG", optimize=True)
    return output.getvalue()
