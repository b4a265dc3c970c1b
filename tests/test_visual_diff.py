"""A shadow attack, shown: a decision signed with "So tien: 10,000,000 VND" drawn from a form XObject, the
XObject swapped in a later update for one that reads 990,000,000 VND. The signature's bytes are intact (the
signed revision, cut at the end of its /ByteRange, still verifies, in our validator and in pdfsig), and the
comparison of page 1 boxes the amount and nothing else (signing/visual_diff.py; the picture is kept in
test-artifacts/); also through the API."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pikepdf
import pytest
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from ca.status import StatusServices
from govsign.errors import http_status
from govsign.web import pages
from signing import visual_diff
from signing.errors import DrawingBusy, InvalidDocument
from signing.pades import Level
from signing.validation import Indication, TrustStore, validate_pdf
from signing.visual_diff import DPI, compare_page, pages_that_differ, signed_revision
from tests.conftest import Deployment
from tests.validation_fixtures import online, only, pdfsig_integrity, sign_by_official

AMOUNT_AT = (300, 650)  # where the XObject writes the amount, in points from the lower left corner
PAGE_HEIGHT = 842
ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _decision_with_an_amount(path: Path) -> Path:
    """An A4 page whose amount is a form XObject (/Amount) of its own, as the attacker needs it."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    amount = pdf.make_stream(
        _amount_drawing("10,000,000 VND"),
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Form,
        BBox=[0, 0, 595, 842],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
    )
    page_text = (
        b"BT /F1 18 Tf 72 760 Td (QUYET DINH) Tj ET BT /F1 14 Tf 72 650 Td (So tien:) Tj ET q /Amount Do Q"
    )
    pdf.pages.append(
        pikepdf.Page(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Page,
                MediaBox=[0, 0, 595, PAGE_HEIGHT],
                Resources=pikepdf.Dictionary(
                    Font=pikepdf.Dictionary(F1=font),
                    XObject=pdf.make_indirect(pikepdf.Dictionary(Amount=amount)),
                ),
                Contents=pdf.make_stream(page_text),
            )
        )
    )
    pdf.save(path)
    return path


def _amount_drawing(amount: str) -> bytes:
    x, y = AMOUNT_AT
    return f"BT /F1 14 Tf {x} {y} Td ({amount}) Tj ET".encode("latin-1")


def _shadow_attack(signed: bytes) -> bytes:
    """``signed`` with its page's /Amount pointed at a new XObject in an incremental update."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    xobjects = page["/Resources"]["/XObject"]
    original = xobjects["/Amount"]
    forged = generic.StreamObject(
        generic.DictionaryObject(  # type: ignore[no-untyped-call]  # pyHanko leaves it unannotated
            {
                generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
                generic.pdf_name("/BBox"): original["/BBox"],
                generic.pdf_name("/Resources"): original["/Resources"],
            }
        ),
        stream_data=_amount_drawing("990,000,000 VND"),
    )
    xobjects[generic.pdf_name("/Amount")] = writer.add_object(forged)
    writer.update_container(xobjects)
    output = io.BytesIO()
    writer.write(output)  # type: ignore[no-untyped-call]
    return output.getvalue()


@dataclass(frozen=True)
class Attack:
    signed: Path  # as the official signed it (B-T)
    attacked: Path  # the same with the amount's XObject swapped
    field: str  # the signature's field


@pytest.fixture(scope="module")
def attack(
    services: StatusServices,
    sqlite_deployment: Deployment,
    trust: TrustStore,
    public_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Attack:
    folder = tmp_path_factory.mktemp("shadow-attack")
    signed, attacked = folder / "signed.pdf", folder / "attacked.pdf"
    decision = _decision_with_an_amount(folder / "qd.pdf")
    sign_by_official(services, sqlite_deployment, decision, signed, Level.B_T)
    attacked.write_bytes(_shadow_attack(signed.read_bytes()))
    report = validate_pdf(attacked, trust, online(sqlite_deployment))
    assert only(report)[0] is not Indication.TOTAL_PASSED, report  # the engine does not pass the attack
    return Attack(signed, attacked, report.signatures[0].field_name)


def test_a_swapped_xobject_is_boxed_where_the_amount_is_and_the_signed_revision_verifies(
    attack: Attack, sqlite_deployment: Deployment, trust: TrustStore, tmp_path: Path
) -> None:
    signed, attacked, field = attack.signed, attack.attacked, attack.field
    revision = tmp_path / "revision.pdf"
    revision.write_bytes(signed_revision(attacked, field))
    assert revision.read_bytes() == signed.read_bytes()
    assert only(validate_pdf(revision, trust, online(sqlite_deployment))) == (Indication.TOTAL_PASSED, None)
    assert pdfsig_integrity(revision) == [True]

    assert pages_that_differ(attacked, field) == [1]
    difference = compare_page(attacked, field, 1)
    ARTEFACTS.mkdir(exist_ok=True)
    (ARTEFACTS / "shadow-attack-difference.png").write_bytes(difference.side_by_side_png())
    (box,) = difference.boxes
    scale = DPI / 72
    x, y = AMOUNT_AT
    baseline = (PAGE_HEIGHT - y) * scale
    assert box.left <= x * scale < box.left + 10 and box.top < baseline <= box.bottom + 5, box
    assert box.bottom - box.top < 30 * scale and box.right - box.left < 140 * scale, box  # the amount alone
    assert box.left > (72 + 60) * scale  # "So tien:" is left alone
    current = Image.open(io.BytesIO(difference.current_png)).convert("RGB")
    red = current.getpixel((box.left - 2, (box.top + box.bottom) // 2))
    assert isinstance(red, tuple) and red[0] > 180 and red[1] < 60 and red[2] < 60, red
    assert compare_page(signed, field, 1).boxes == ()


def test_the_revision_and_the_difference_through_the_public_api(attack: Attack, public_server: str) -> None:
    attacked, field = attack.attacked.read_bytes(), attack.field
    upload = {"file": ("attacked.pdf", attacked)}
    revision = httpx.post(
        f"{public_server}/api/v1/verify/revision", params={"field": field}, files=upload, timeout=60
    )
    assert revision.status_code == 200 and revision.headers["content-type"] == "application/pdf"
    assert revision.content == attack.signed.read_bytes()
    picture = httpx.post(
        f"{public_server}/api/v1/verify/difference",
        params={"field": field, "page": 1},
        files=upload,
        timeout=60,
    )
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert len(picture.headers["x-changed-regions"].split(";")) == 1
    assert Image.open(io.BytesIO(picture.content)).width > 2 * 595 * DPI / 72
    unknown = httpx.post(
        f"{public_server}/api/v1/verify/revision", params={"field": "Nope"}, files=upload, timeout=60
    )
    assert unknown.status_code == 422 and "Nope" in unknown.json()["detail"]


def test_a_page_too_large_to_draw_is_refused_before_poppler_draws_it(attack: Attack, tmp_path: Path) -> None:
    """Anyone may ask for a comparison: a later update that makes the page 200 inches square (14,400 pt,
    the largest PDF allows) would have pdftoppm allocate 1.2 GB and spend half a minute, then Pillow refuse
    the image with an uncaught error (a 500); it is refused as a document the service will not draw."""
    writer = IncrementalPdfFileWriter(io.BytesIO(attack.signed.read_bytes()))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    corners = (0, 0, 14400, 14400)  # 200 inches square
    page[generic.pdf_name("/MediaBox")] = generic.ArrayObject(
        [generic.NumberObject(n) for n in corners]  # type: ignore[no-untyped-call]  # pyHanko leaves it unannotated
    )
    writer.update_container(page)
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as output:
        writer.write(output)  # type: ignore[no-untyped-call]
    started = time.monotonic()
    with pytest.raises(InvalidDocument, match="too large to draw"):
        compare_page(huge, attack.field, 1)
    assert time.monotonic() - started < 5


def test_one_drawing_at_a_time_and_a_request_that_waits_too_long_is_told_to_come_back(
    attack: Attack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2.5 KB page of forms drawing forms (ten times each, seven deep) keeps pdftoppm busy past its time
    limit; twenty of them at once (one address's burst) took every core from signing and OCSP. Drawings
    take turns, and one that cannot get its turn is a 503, not another pdftoppm."""
    monkeypatch.setattr(visual_diff, "_WAIT_SECONDS", 0.2)
    with visual_diff._drawing, pytest.raises(DrawingBusy):  # another request is drawing
        compare_page(attack.attacked, attack.field, 1)
    assert http_status(DrawingBusy()) == 503
    assert compare_page(attack.attacked, attack.field, 1).boxes  # its turn came


def test_the_verify_page_gives_its_report_without_drawings_while_others_draw(
    attack: Attack, sqlite_deployment: Deployment, trust: TrustStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public /verify page draws up to four changed pages per upload: while drawing is busy it answers
    with the report and no drawing, after one wait rather than one per page."""
    report = validate_pdf(attack.attacked, trust, online(sqlite_deployment))
    verdict = report.signatures[0]
    on_four_pages = [replace(verdict.changes[0], page=page) for page in (1, 2, 3, 4)]
    report = replace(report, signatures=[replace(verdict, changes=on_four_pages)])
    waits: list[int] = []

    def busy(source: Path, field: str, page: int) -> visual_diff.PageDifference:
        waits.append(page)
        raise DrawingBusy("others are drawing")

    monkeypatch.setattr(pages, "compare_page", busy)
    assert not any(pages._differences(attack.attacked, report).values())
    assert waits == [1]
