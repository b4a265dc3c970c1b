"""The Decree 30 placement rules on pages read with pdfminer, without signing: where each mode goes, and
the refusals when the page leaves no place (never a guess over text)."""

from __future__ import annotations

from pathlib import Path

import pikepdf
import pytest

from signing import layout
from signing.errors import DocumentRefused
from signing.page_ink import PageInk, Rect, read_page
from signing.request import SigningRequest
from tests.conftest import DEMO
from tests.decree30_pages import decision_pdf, letterhead_pdf, scanned_pdf

pytestmark = pytest.mark.pure

SIGNATURE_SIZE = (144.0, 57.6)  # the demo signature PNG at its 300 dpi


def ink_of(pdf: Path) -> PageInk:
    with pdf.open("rb") as stream:
        return read_page(stream, 0, None)


def test_approval_goes_between_the_position_line_and_the_name(tmp_path: Path) -> None:
    ink = ink_of(decision_pdf(tmp_path / "decision.pdf"))
    lines = {line.text: line.rect for line in ink.lines}
    title, name = lines["PHÓ GIÁM ĐỐC"], lines["Nguyễn Văn Ánh"]
    box = layout.approval_box(ink, "NGUYỄN  VĂN ÁNH", SIGNATURE_SIZE)  # any case, any spacing
    assert name.y1 < box.y0 and box.y1 < title.y0
    assert box.centre[0] == pytest.approx(name.centre[0])
    assert box.centre[1] == pytest.approx((name.y1 + title.y0) / 2, abs=2)
    assert (box.width, box.height) == pytest.approx(SIGNATURE_SIZE)  # real size: the space is large enough
    assert ink.is_free(box)


def test_an_anchor_naming_the_position_line_gives_the_same_place(tmp_path: Path) -> None:
    ink = ink_of(letterhead_pdf(tmp_path / "letterhead.pdf"))
    by_name = layout.approval_box(ink, "Nguyễn Văn Ánh", SIGNATURE_SIZE)
    assert layout.approval_box(ink, "PHÓ CHỦ TỊCH", SIGNATURE_SIZE) == by_name


def test_a_name_not_on_the_page_is_refused_not_guessed(tmp_path: Path) -> None:
    ink = ink_of(decision_pdf(tmp_path / "decision.pdf"))
    with pytest.raises(DocumentRefused, match=r"'Trần Thị Bích' is not printed on the page.*anchor.*box"):
        layout.approval_box(ink, "Trần Thị Bích", SIGNATURE_SIZE)
    with pytest.raises(DocumentRefused, match="is not printed"):
        layout.approval_box(ink_of(scanned_pdf(tmp_path / "scan.pdf")), "Nguyễn Văn Ánh", SIGNATURE_SIZE)


def test_a_name_printed_right_under_its_title_leaves_no_room(tmp_path: Path) -> None:
    """A body line that merely mentions the name, with text right above and below it: refused."""
    ink = ink_of(decision_pdf(tmp_path / "decision.pdf"))
    with pytest.raises(DocumentRefused, match="has no free space of at least 24 pt"):
        layout.approval_box(ink, "Lê Văn Cường", SIGNATURE_SIZE)


def test_the_copy_mark_takes_the_top_margin_or_the_first_free_band_below_it(tmp_path: Path) -> None:
    decision = ink_of(decision_pdf(tmp_path / "decision.pdf"))
    mark = layout.top_right_box(decision, 130, 40)
    assert mark.y1 == pytest.approx(842 - 12) and mark.x1 == pytest.approx(595 - 42.5)
    motto = next(line.rect for line in decision.lines if line.text.startswith("CỘNG HÒA"))
    assert mark.y0 > motto.y1  # above the national motto, not over it
    letterhead = ink_of(letterhead_pdf(tmp_path / "letterhead.pdf"))
    moved = layout.top_right_box(letterhead, 130, 40)
    assert moved.y1 < 732 and letterhead.is_free(moved)  # below the band that fills the top
    scan = ink_of(scanned_pdf(tmp_path / "scan.pdf"))
    below_header = layout.top_right_box(scan, 130, 40)
    assert below_header.y1 < 842 - 12 and scan.is_free(below_header)  # the scan's header starts at 8 pt


def test_a_page_without_free_space_is_refused(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.pages[0].Contents = pdf.make_stream(b"0 0 0 rg 0 0 595 842 re f")
    pdf.save(tmp_path / "black.pdf")
    ink = ink_of(tmp_path / "black.pdf")
    with pytest.raises(DocumentRefused, match="no free place of 130 x 40 pt for the mark"):
        layout.top_right_box(ink, 130, 40)
    with pytest.raises(DocumentRefused, match=r"no free place .* for the text block.*box"):
        layout.free_box(ink, 200, 52)


def test_a_white_background_is_not_ink(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.pages[0].Contents = pdf.make_stream(b"1 1 1 rg 0 0 595 842 re f 0 0 0 0 k 0 0 595 842 re f")
    pdf.save(tmp_path / "white.pdf")
    ink = ink_of(tmp_path / "white.pdf")
    assert ink.is_free(Rect(0, 0, 595, 842))


def test_the_seal_covers_the_left_third_of_the_signature() -> None:
    image = Rect(300, 100, 444, 157.6)
    seal = layout.seal_box(image, 102)
    assert (seal.x1 - image.x0) / image.width == pytest.approx(1 / 3)
    assert seal.centre[1] == pytest.approx(image.centre[1]) and seal.width == seal.height == 102
    small = layout.seal_box(Rect(0, 0, 600, 50), 102)  # a seal narrower than the third starts at its edge
    assert small.x0 == pytest.approx(0)


def test_an_unreadable_page_is_refused_with_a_request_for_a_box(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.pages[0].Contents = pdf.make_stream(b"BT /NoSuchFont 12 Tf (x) Tj ET q q q 1 0 0 1 0 0 cm")
    pdf.save(tmp_path / "odd.pdf")
    with (tmp_path / "odd.pdf").open("rb") as stream:
        ink = read_page(stream, 0, None)  # pdfminer tolerates a missing font: the page is still read
        assert stream.tell() == 0
    assert ink.is_free(Rect(300, 300, 400, 400))
    with (
        (tmp_path / "odd.pdf").open("rb") as stream,
        pytest.raises(DocumentRefused, match="give the signature's box"),
    ):
        read_page(stream, 5, None)


def test_the_anchor_comes_through_the_request_model() -> None:
    request = SigningRequest.of({"appearance": "approval", "anchor": "PHÓ GIÁM ĐỐC"})
    options = request.options(image=DEMO / "chu-ky-nguyen-van-anh.png", max_bytes=1 << 20)
    assert options.appearance.anchor == "PHÓ GIÁM ĐỐC"
