"""A real browser on the /verify page: Playwright drives Debian's chromium, uploads a signed PDF and reads
the verdict with the signer's name in Vietnamese; the screenshot is kept in test-artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ca.signing_keys import subscriber_key
from ca.status import StatusServices
from signing.pades import Level, SigningOptions
from tests.conftest import Deployment, issue_in_hsm, sign_as_holder
from tests.pdf_samples import one_page_pdf

CHROMIUM = shutil.which("chromium")
ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh installs it)"
)
def test_a_person_drops_a_signed_pdf_on_the_verify_page_and_reads_the_verdict(
    sqlite_deployment: Deployment, public_server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    key = subscriber_key(sqlite_deployment.authority, issue_in_hsm(sqlite_deployment))
    signed = tmp_path / "ket-qua-da-ky.pdf"
    services = StatusServices(sqlite_deployment.authority)
    sign_as_holder(
        services, key, one_page_pdf(tmp_path / "in.pdf"), signed, SigningOptions(level=Level.B_LT), actor="t"
    )
    ARTEFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{public_server}/verify")
        page.set_input_files("input[type=file]", str(signed))
        page.click("button[type=submit]")
        page.wait_for_selector("section.card")
        card = page.inner_text("section.card")
        page.screenshot(path=str(ARTEFACTS / "verify-page.png"), full_page=True)
        browser.close()
    assert "Nguyễn Văn Ánh" in card
    assert "Hợp lệ — tài liệu không bị thay đổi sau khi ký." in card
    assert "TOTAL_PASSED" in card
