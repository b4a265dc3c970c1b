"""Decree 30 placement read from the page, judged on poppler's rendering: the official's signature lands
between the position line and the printed name, the seal covers the left third of it at real size, and
the copy mark and the text block cover no ink that was on the page before (a pixel test on pdftoppm's
drawing). The renderings are kept in test-artifacts/placement/ for a person to look at."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest

from ca.signing_keys import SubscriberKey, subscriber_key
from ca.status import StatusServices
from signing.appearance import AppearanceMode, AppearanceRequest
from signing.errors import DocumentRefused
from signing.pades import Level, SigningOptions
from tests.conftest import DEMO, HOLDER_PIN, Deployment, issue_in_hsm, sign_as_holder
from tests.decree30_pages import decision_pdf, landscape_pdf, letterhead_pdf, scanned_pdf
from tests.page_pixels import DPI, Widget, colour_extent, ink_pixels, pixel_box, render, signature_widgets

RENDERS = Path(__file__).resolve().parents[1] / "test-artifacts" / "placement"
LAYOUTS: dict[str, Callable[[Path], Path]] = {
    "decision": decision_pdf,
    "letterhead": letterhead_pdf,
    "scan": scanned_pdf,
    "landscape": landscape_pdf,
}
SIGNATURE = DEMO / "chu-ky-nguyen-van-anh.png"
SEAL = DEMO / "con-dau-so-tu-phap-ha-noi.png"


@pytest.fixture(scope="module")
def services(sqlite_deployment: Deployment) -> StatusServices:
    return StatusServices(sqlite_deployment.authority)


@pytest.fixture(scope="module")
def official(sqlite_deployment: Deployment) -> SubscriberKey:
    return subscriber_key(sqlite_deployment.authority, issue_in_hsm(sqlite_deployment))


@pytest.fixture(scope="module")
def clerk(sqlite_deployment: Deployment) -> SubscriberKey:
    serial = issue_in_hsm(sqlite_deployment, "organisation", "seal-so-tu-phap-ha-noi.json")
    return subscriber_key(sqlite_deployment.authority, serial)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("layouts")
    RENDERS.mkdir(parents=True, exist_ok=True)
    return {name: make(folder / f"{name}.pdf") for name, make in LAYOUTS.items()}


def page_height(pdf: Path) -> float:
    with pikepdf.open(pdf) as document:
        return float(document.pages[0].mediabox[3])


def sign(
    services: StatusServices, key: SubscriberKey, source: Path, target: Path, request: AppearanceRequest
) -> Widget:
    sign_as_holder(
        services, key, source, target, SigningOptions(level=Level.B_B, appearance=request), actor="t"
    )
    return signature_widgets(target)[-1]


def assert_covers_no_earlier_ink(source: Path, signed: Path, widget: Widget, picture_name: str) -> None:
    """Under the stamp's whole rectangle the page was blank before; after, the stamp is drawn there."""
    height = page_height(source)
    before = render(source, RENDERS / f"{picture_name}-before.png")
    after = render(signed, RENDERS / f"{picture_name}.png")
    box = pixel_box(before, height, widget.rect)
    assert ink_pixels(before.crop(box)) == 0, f"{widget.name} at {widget.rect} covers ink of the page"
    assert ink_pixels(after.crop(box)) > 50, f"{widget.name} drew nothing at {widget.rect}"


def poppler_line(pdf: Path, words: str) -> tuple[float, float, float, float]:
    """The box (points, lower left origin) of the lowest line holding ``words``, as pdftotext sees it."""
    html = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    height = page_height(pdf)
    found = []
    for line in re.findall(r"<line (.*?)</line>", html, re.DOTALL):
        text = " ".join(re.findall(r">([^<]+)</word>", line))
        if text == words:
            x0, y0, x1, y1 = (float(value) for value in re.findall(r'="([\d.]+)"', line)[:4])
            found.append((x0, height - y1, x1, height - y0))
    assert found, f"{words!r} not on the page"
    return min(found, key=lambda box: box[1])


@pytest.mark.parametrize(
    ("layout", "title", "box"),
    [
        ("decision", "PHÓ GIÁM ĐỐC", None),
        ("letterhead", "PHÓ CHỦ TỊCH", None),
        ("landscape", "PHÓ GIÁM ĐỐC", None),
        ("scan", None, (348.0, 242.0, 144.0, 57.6)),  # no text to read: the clerk gives the box
    ],
)
def test_approval_between_position_line_and_name_and_the_seal_over_its_left_third(
    layout: str,
    title: str | None,
    box: tuple[float, float, float, float] | None,
    services: StatusServices,
    official: SubscriberKey,
    clerk: SubscriberKey,
    pages: dict[str, Path],
    tmp_path: Path,
) -> None:
    """Without a box, the signature is found from the certificate's CN (Nguyễn Văn Ánh) and put between
    the position line and the name, centred on the name; then the seal at real size (36 mm) covers
    30-36 % of the signature image, measured on the rendering."""
    source = pages[layout]
    approved, sealed = tmp_path / "approved.pdf", tmp_path / "sealed.pdf"
    request = AppearanceRequest(AppearanceMode.APPROVAL, image=SIGNATURE, box=box)
    approval = sign(services, official, source, approved, request)
    x0, y0, x1, y1 = approval.rect
    seal = sign(services, clerk, approved, sealed, AppearanceRequest(AppearanceMode.ISSUE, image=SEAL))
    assert abs((seal.rect[2] - seal.rect[0]) - 36 / 25.4 * 72) < 1.5  # real size
    assert abs((seal.rect[2] - x0) / (x1 - x0) - 1 / 3) < 0.02  # geometry: its right edge a third in
    picture = render(sealed, RENDERS / f"{layout}-approval-issue.png")
    height = page_height(sealed)
    image = pixel_box(picture, height, approval.rect)
    blue = colour_extent(picture.crop(image), "blue")
    assert blue is not None, "the official's signature is not drawn"
    band = (image[0] - 2 * DPI, image[1], image[2], image[3])  # the signature's rows, the seal's reach
    red = colour_extent(picture.crop(band), "red")
    assert red is not None, "the seal is not drawn"
    covered = (band[0] + red[2] - image[0]) / (image[2] - image[0])
    assert 0.30 <= covered <= 0.36, f"the seal covers {covered:.0%} of the signature image"
    if title is None:
        return
    above, name = poppler_line(source, title), poppler_line(source, "Nguyễn Văn Ánh")
    assert name[3] < y0 and y1 < above[1], (approval.rect, above, name)
    assert abs((x0 + x1) / 2 - (name[0] + name[2]) / 2) <= 1.5
    assert abs((y0 + y1) / 2 - (name[3] + above[1]) / 2) <= 4  # centred in the gap (poppler's line boxes)
    title_px, name_px = pixel_box(picture, height, above), pixel_box(picture, height, name)
    assert title_px[3] < image[1] + blue[1] and image[1] + blue[3] < name_px[1]  # strokes between the lines


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("mode", [AppearanceMode.COPY, AppearanceMode.APPENDIX, AppearanceMode.TEXT])
def test_copy_appendix_and_text_cover_no_ink(
    layout: str,
    mode: AppearanceMode,
    services: StatusServices,
    clerk: SubscriberKey,
    pages: dict[str, Path],
    tmp_path: Path,
) -> None:
    source = pages[layout]
    signed = tmp_path / f"{mode}.pdf"
    request = AppearanceRequest(mode, doc_number="1234/QĐ-STP" if mode is AppearanceMode.APPENDIX else None)
    widget = sign(services, clerk, source, signed, request)
    assert_covers_no_earlier_ink(source, signed, widget, f"{layout}-{mode}")
    with pikepdf.open(source) as document:
        area_x1, area_y1 = (float(value) for value in document.pages[0].mediabox[2:])
    if mode is not AppearanceMode.TEXT:
        assert widget.rect[0] > area_x1 / 2 and widget.rect[2] <= area_x1 - 42, widget.rect  # on the right
        assert_set_at_ten_points(signed)
    if mode is not AppearanceMode.TEXT and layout in ("decision", "landscape"):
        assert widget.rect[3] >= area_y1 - 14 and widget.rect[1] >= area_y1 - 57, (
            widget.rect
        )  # the top margin


def assert_set_at_ten_points(signed: Path) -> None:
    """The mark's text is drawn at 10 pt: Tf 10 and no scaling on the way to it."""
    with pikepdf.open(signed) as document:
        field = next(field for field in document.Root.AcroForm.Fields if str(field.T).startswith("govsign"))
        sizes: list[float] = []
        scales: list[float] = []
        _walk_appearance(field.AP.N, 1.0, sizes, scales)
    assert sizes and set(sizes) == {10.0}, sizes
    assert scales and all(abs(scale - 1) < 1e-6 for scale in scales), scales


def _walk_appearance(form: pikepdf.Object, scale: float, sizes: list[float], scales: list[float]) -> None:
    saved: list[float] = []
    for instruction in pikepdf.parse_content_stream(form):
        operator, operands = str(instruction.operator), instruction.operands
        if operator == "q":
            saved.append(scale)
        elif operator == "Q" and saved:
            scale = saved.pop()
        elif operator == "cm":
            scale *= float(operands[0])
        elif operator == "Tf":
            sizes.append(float(operands[1]))
            scales.append(scale)
        elif str(operator) == "Do":
            child = form.Resources.XObject[str(operands[0])]
            if child.Subtype == "/Form":
                _walk_appearance(child, scale, sizes, scales)


def test_approval_on_a_three_line_title_block_and_by_its_title_line(
    services: StatusServices, official: SubscriberKey, pages: dict[str, Path], tmp_path: Path
) -> None:
    """On the letterhead page, the anchor may name the position line ("PHÓ CHỦ TỊCH"): the signature goes
    below it, above the name, in the same place as when found from the name."""
    source = pages["letterhead"]
    by_name = sign(
        services,
        official,
        source,
        tmp_path / "a.pdf",
        AppearanceRequest(AppearanceMode.APPROVAL, image=SIGNATURE),
    )
    by_title = sign(
        services,
        official,
        source,
        tmp_path / "b.pdf",
        AppearanceRequest(AppearanceMode.APPROVAL, image=SIGNATURE, anchor="phó chủ tịch"),
    )
    assert by_name.rect == by_title.rect
    assert_covers_no_earlier_ink(source, tmp_path / "b.pdf", by_title, "letterhead-approval")
    render(tmp_path / "a.pdf", RENDERS / "letterhead-approval.png")


def test_approval_without_box_or_printed_name_is_refused_with_the_reason(
    services: StatusServices, official: SubscriberKey, pages: dict[str, Path], tmp_path: Path
) -> None:
    """A scan has no text to find the name in: refused, never guessed, nothing written."""
    target = tmp_path / "out.pdf"
    request = AppearanceRequest(AppearanceMode.APPROVAL, image=SIGNATURE)
    with pytest.raises(DocumentRefused, match=r"page 1: 'Nguyễn Văn Ánh' is not printed on the page.*box"):
        sign(services, official, pages["scan"], target, request)
    assert not target.exists()


def test_cli_signs_above_the_anchor_line_and_refuses_a_missing_one(
    sqlite_deployment: Deployment, pages: dict[str, Path], tmp_path: Path
) -> None:
    """`govsign sign --anchor`: the same place as found from the name; a line not on the page is exit 5
    with the reason and no output."""
    serial = issue_in_hsm(sqlite_deployment)
    common = ("--cert", serial, "--appearance", "approval", "--image", str(SIGNATURE), "--level", "B-B")

    def sign_cli(target: Path, anchor: str) -> subprocess.CompletedProcess[str]:
        return sqlite_deployment.cli(
            "sign",
            str(pages["decision"]),
            "-o",
            str(target),
            *common,
            "--anchor",
            anchor,
            check=False,
            stdin=HOLDER_PIN + "\n",
        )

    signed = sign_cli(tmp_path / "out.pdf", "PHÓ GIÁM ĐỐC")
    assert signed.returncode == 0, signed.stderr
    title, name = (
        poppler_line(pages["decision"], "PHÓ GIÁM ĐỐC"),
        poppler_line(pages["decision"], "Nguyễn Văn Ánh"),
    )
    _, y0, _, y1 = signature_widgets(tmp_path / "out.pdf")[0].rect
    assert name[3] < y0 and y1 < title[1]
    refused = sign_cli(tmp_path / "refused.pdf", "CHÁNH THANH TRA")
    assert refused.returncode == 5 and "'CHÁNH THANH TRA' is not printed on the page" in refused.stderr, (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr and not (tmp_path / "refused.pdf").exists()
