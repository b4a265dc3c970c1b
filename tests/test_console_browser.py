"""The console in a real browser (Playwright, Debian's chromium), on a deployment of its own.

An RA officer signs in with password and TOTP and issues an official's certificate from the form (the
live citizen-ID check shown on the way); the official signs a PDF with the approval appearance, the
box dragged on page 1; the agency clerk adds the seal; a verifier drops the result on /verify and reads
both signatures valid. Screenshots of every step are kept in test-artifacts/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from tests.conftest import Deployment, issue_in_hsm, make_deployment, running_server
from tests.console_people import PIN, officer, sign_in, signing_account
from tests.pdf_samples import one_page_pdf, seal_png, signature_png

if TYPE_CHECKING:  # types only: the test imports playwright itself, when it runs
    from playwright.sync_api import Page, ViewportSize

CHROMIUM = shutil.which("chromium")
ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWPORT: ViewportSize = {"width": 1280, "height": 1600}  # the whole A4 preview on screen, to drag on

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh installs it)"
)


@pytest.fixture(scope="module")
def console_deployment() -> Deployment:
    return make_deployment("console", None)


@pytest.fixture(scope="module")
def server(console_deployment: Deployment) -> Iterator[str]:
    with running_server(console_deployment) as base:
        yield base


def _sign_in_browser(
    page: Page, base: str, username: str, secret: str, document: Path, appearance: str
) -> Path:
    """Upload ``document``, drag the box, enter the PIN and return the downloaded signed PDF."""
    sign_in(page, base, username, secret)
    page.set_input_files("#file", str(document))
    page.select_option("#appearance", appearance)
    page.click("form[action^='/console/sign/preview'] button[type=submit]")
    page.wait_for_selector("#page img")
    page.wait_for_load_state("load")  # the page image loaded: the frame has its full size
    frame = page.locator("#page").bounding_box()
    assert frame is not None, "the page image is not shown"
    page.mouse.move(frame["x"] + frame["width"] * 0.55, frame["y"] + frame["height"] * 0.70)
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] * 0.90, frame["y"] + frame["height"] * 0.80, steps=8)
    page.mouse.up()
    assert re.fullmatch(r"[\d.]+,[\d.]+,[\d.]+,[\d.]+", page.input_value("#box-field"))
    page.fill("#pin", PIN)
    page.screenshot(path=str(ARTEFACTS / f"console-{username}-preview.png"), full_page=True)
    with page.expect_download() as download:
        page.click("form[action^='/console/sign/'] button[type=submit] >> nth=-1")
    target = document.parent / f"{username}-{download.value.suggested_filename}"
    download.value.save_as(target)
    return target


def test_officer_issues_official_signs_clerk_seals_verifier_reads_both_valid(
    console_deployment: Deployment, server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    deployment = console_deployment
    officer_secret = officer(deployment, "Lê Thị Hoa", "hoa")
    seal_serial = issue_in_hsm(deployment, "organisation", "seal-so-tu-phap-ha-noi.json")
    clerk_secret = signing_account(
        deployment, "create-clerk", seal_serial, seal_png(tmp_path / "dau.png"), "van-thu"
    )
    ARTEFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(accept_downloads=True, viewport=VIEWPORT).new_page()
        sign_in(page, server, "hoa", officer_secret)
        page.wait_for_selector("table")
        page.click("text=Cấp chứng thư")
        page.fill("#requesting_agency", "Sở Tư pháp thành phố Hà Nội")
        page.fill("#request_ref", "125/STP-VP")
        page.fill("#individual-full_name", "Trần Thị Bích")
        page.fill("#individual-personal_id", "00118")
        assert page.is_visible("[data-hint=personal_id]")  # the live check, before any request
        page.fill("#individual-personal_id", "001185012346")
        assert not page.is_visible("[data-hint=personal_id]")
        page.fill("#individual-email", "ttbich@sotuphap.hanoi.gov.vn")
        page.fill("#individual-organisation", "Sở Tư pháp thành phố Hà Nội")
        page.fill("#individual-province", "Hà Nội")
        page.screenshot(path=str(ARTEFACTS / "console-issue-form.png"), full_page=True)
        page.click("#issue-form button[type=submit]")
        message = page.inner_text("#message")
        page.screenshot(path=str(ARTEFACTS / "console-issued.png"), full_page=True)
        serial = re.search(r"([0-9a-f]{16,})", message)
        setup_code = re.search(r"([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})", message)  # shown once, for the holder
        assert serial is not None and setup_code is not None and "Trần Thị Bích" in message, message

        official_secret = signing_account(
            deployment,
            "create-official",
            serial.group(1),
            signature_png(tmp_path / "chu-ky.png"),
            "bich",
            setup_code.group(1),
        )
        document = one_page_pdf(tmp_path / "ket-qua.pdf")
        page = browser.new_context(accept_downloads=True, viewport=VIEWPORT).new_page()
        approved = _sign_in_browser(page, server, "bich", official_secret, document, "approval")
        page = browser.new_context(accept_downloads=True, viewport=VIEWPORT).new_page()
        sealed = _sign_in_browser(page, server, "van-thu", clerk_secret, approved, "issue")

        page = browser.new_page()
        page.goto(f"{server}/verify")
        page.set_input_files("input[type=file]", str(sealed))
        page.click("button[type=submit] >> nth=0")
        page.wait_for_selector("section.card")
        cards = page.locator("section.card").all_inner_texts()
        page.screenshot(path=str(ARTEFACTS / "console-verified.png"), full_page=True)
        browser.close()
    signatures = [card for card in cards if "TOTAL_PASSED" in card]
    assert len(signatures) == 2, cards
    assert any("Trần Thị Bích" in card for card in signatures)
    assert any("Sở Tư pháp thành phố Hà Nội" in card for card in signatures)
    with deployment.authority.database.engine.begin() as connection:
        logins = (
            connection.execute(
                text("SELECT actor FROM audit_log WHERE action = 'console.login' AND result = 'success'")
            )
            .scalars()
            .all()
        )
    assert {"console:hoa", "console:bich", "console:van-thu"} <= set(logins)
