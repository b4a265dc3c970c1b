"""The management pages in a real browser (Playwright, Debian's chromium), on a deployment of their own.

A ca_admin signs in with password and TOTP, follows the menu to the trusted certificates, adds another
CA's root for a window typed in Vietnam time, raises the approval policy for adding the next one, and
opens the agency seal's certificate page from the list to give its clerk an account;
an auditor then finds that in the audit log, exports the signed range as a file and verifies the log.
Screenshots of every step are kept in test-artifacts/.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyotp
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from govsign.access.administrators import Role
from tests.conftest import Deployment, issue_in_hsm, make_deployment, running_server
from tests.console_sessions import PASSWORD, enrol_login
from tests.dual_control_fixtures import policy_in_force
from tests.pdf_corpus.foreign import foreign_ca

if TYPE_CHECKING:  # types only: the test imports playwright itself, when it runs
    from playwright.sync_api import Browser, Page

CHROMIUM = shutil.which("chromium")
ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh installs it)"
)


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return make_deployment("console-walk", None)


@pytest.fixture(scope="module")
def server(deployment: Deployment) -> Iterator[str]:
    with running_server(deployment) as base:
        yield base


def _signed_in(browser: Browser, base: str, username: str, secret: str) -> Page:
    page = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.wait_for_selector("nav")
    return page


def test_ca_admin_trusts_a_root_and_raises_a_policy_then_the_auditor_exports_it(
    deployment: Deployment, server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    admin_secret = enrol_login(deployment, "lan", role=Role.CA_ADMIN)
    auditor_secret = enrol_login(deployment, "kiem-toan", role=Role.AUDITOR)
    seal = issue_in_hsm(deployment, "organisation", "seal-so-tu-phap-ha-noi.json")
    root = tmp_path / "doi-tac-goc.pem"
    root.write_bytes(foreign_ca().root.public_bytes(Encoding.PEM))
    ARTEFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = _signed_in(browser, server, "lan", admin_secret)
        page.click("nav >> text=Chứng thư tin cậy")
        page.set_input_files("#trust-certificate", str(root))
        page.fill("#trust-name", "CA đối tác (gốc)")
        page.fill("#trust-from", "2025-01-01T08:00")
        page.screenshot(path=str(ARTEFACTS / "console-trust-form.png"), full_page=True)
        page.click("#trust-form button[type=submit]")
        assert "CA đối tác (gốc)" in page.inner_text("#message")
        page.click("text=Quay lại")
        listed = page.inner_text("#trusted")
        assert "CA đối tác (gốc)" in listed and "08:00:00 ngày 01/01/2025" in listed, listed
        page.screenshot(path=str(ARTEFACTS / "console-trust-list.png"), full_page=True)

        page.click("nav >> text=Chính sách phê duyệt")
        row = page.locator("#policy-trust-add")
        row.locator("input[name=required]").fill("2")
        row.locator("button").click()
        assert "trust.add" in page.inner_text("#message")
        page.screenshot(path=str(ARTEFACTS / "console-policy-saved.png"), full_page=True)

        page.click("nav >> text=Chứng thư số")
        page.click(f"a[href^='/console/certificates/{seal}']")
        page.click("#create-account button")  # the agency's clerk gets an account from the seal's page
        assert page.inner_text("#secret").startswith("gsk_")
        page.go_back()
        page.reload()
        assert "Chuỗi chứng thư" in page.inner_text("body") and "Tài khoản" in page.inner_text("#certificate")
        page.screenshot(path=str(ARTEFACTS / "console-certificate.png"), full_page=True)

        page = _signed_in(browser, server, "kiem-toan", auditor_secret)
        page.click("nav >> text=Nhật ký kiểm toán")
        page.fill("#audit-action", "trust.add")
        page.click("#audit-filter button[type=submit]")
        assert "CA đối tác (gốc)" in page.inner_text("#entries")
        page.screenshot(path=str(ARTEFACTS / "console-audit-filtered.png"), full_page=True)
        with page.expect_download() as download:
            page.click("#export-form button[type=submit]")
        exported = tmp_path / download.value.suggested_filename
        download.value.save_as(exported)
        page.click("#verify-form button[type=submit]")
        verdict = page.inner_text("#verified")
        page.screenshot(path=str(ARTEFACTS / "console-audit-verified.png"), full_page=True)
        browser.close()
    assert exported.name.startswith("nhat-ky-kiem-toan-1-")
    actions = [entry["action"] for entry in json.loads(exported.read_text("utf-8"))["export"]["entries"]]
    assert "trust.add" in actions and "config.approval_policy" in actions
    assert "Nhật ký toàn vẹn" in verdict, verdict
    assert policy_in_force(deployment, "trust.add") == (2, 24)
