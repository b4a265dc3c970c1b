"""The pages as people use them, in Playwright with Debian's chromium: a citizen drops a signed PDF on
/verify (drop zone, progress, the file's name, size and SHA-256, the time as written here); an officer
revokes a certificate after a confirmation offering only the Decree 68 reasons that fit its kind; an
official mistypes the PIN and signs without uploading or placing the box again, and downloads
``<original>-da-ky.pdf``. On every page: axe-core finds no serious or critical violation, the CSP blocks
nothing, the page fits a phone without sideways scrolling, and speaks only its language. Screenshots at
1280x900 and 390x844 go to $GOVSIGN_ARTEFACTS (else the test's tmp_path).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ca.profiles import CertificateKind
from ca.reasons import CASE_KINDS
from ca.signing_keys import subscriber_key
from ca.status import StatusServices
from signing.pades import Level, SigningOptions
from tests.conftest import Deployment, issue_in_hsm, make_deployment, running_server, sign_as_holder
from tests.console_people import PIN, officer, sign_in, signing_account
from tests.page_words import foreign_words
from tests.pdf_samples import one_page_pdf, signature_png
from tests.validation_fixtures import signed_and_changed
from tests.validation_forgeries import shadow_attack_original, shadow_attacked

if TYPE_CHECKING:  # types only: the test imports playwright itself, when it runs
    from playwright.sync_api import Browser, Page, Route, ViewportSize

CHROMIUM = shutil.which("chromium")
AXE = Path(
    os.environ.get("GOVSIGN_AXE", Path(__file__).resolve().parents[1] / "node_modules/axe-core/axe.min.js")
)
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
HOLDER = "Nguyễn Văn Ánh — Sở Tư pháp thành phố Hà Nội"
# names and places of the demo data, Vietnamese on pages in either language
DATA = (
    "govsign root CA",
    "Nguyễn Văn Ánh",
    "Sở Tư pháp thành phố Hà Nội",
    "Ban Cơ yếu Chính phủ",
    "CA chuyên dùng Chính phủ",
)
TIME = re.compile(r"\d\d:\d\d:\d\d ngày \d\d/\d\d/\d{4} \(giờ Việt Nam\)")

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh installs it)"
    ),
    pytest.mark.skipif(
        not AXE.is_file(),
        reason=f"npm's axe-core is not at {AXE} (scripts/setup.sh installs it; or set GOVSIGN_AXE)",
    ),
]


@pytest.fixture(scope="module")
def ui_deployment() -> Deployment:
    return make_deployment("ui", None)


@pytest.fixture(scope="module")
def server(ui_deployment: Deployment) -> Iterator[str]:
    with running_server(ui_deployment) as base:
        yield base


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    folder = Path(os.environ["GOVSIGN_ARTEFACTS"]) if os.environ.get("GOVSIGN_ARTEFACTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Inspector:
    """Checks one page the way every page is checked, and keeps its screenshots. The pages it loads are
    served under a stricter CSP than the application's (styles from the stylesheet only), so a style
    attribute or element anywhere shows up as a blocked style."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page, self.folder = page, folder
        self.blocked: list[str] = []
        page.on("console", self._console)
        page.route("**/*", self._strict)

    @staticmethod
    def _strict(route: Route) -> None:
        if route.request.method != "GET" or route.request.resource_type != "document":
            route.continue_()
            return
        answer = route.fetch()
        policy = answer.headers.get("content-security-policy", "").replace(
            "style-src 'self' 'unsafe-inline'", "style-src 'self'"
        )
        route.fulfill(response=answer, headers={**answer.headers, "content-security-policy": policy})

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.blocked.append(message.text)

    def check(self, name: str, language: str = "vi") -> None:
        page = self.page
        own = page.viewport_size or DESKTOP
        page.evaluate(AXE.read_text() + "\n;0")  # through DevTools: the page's CSP does not apply to it
        found = page.evaluate(
            "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
            " 'best-practice']})).violations.map(v => ({id: v.id, impact: v.impact,"
            " nodes: v.nodes.map(n => n.target.join(' '))}))"
        )
        serious = [v for v in found if v["impact"] in ("serious", "critical")]
        assert serious == [], (name, serious)
        assert self.blocked == [], (name, self.blocked)
        assert foreign_words(page.content(), language, DATA) == set(), name
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(path=str(self.folder / f"{name}-{label}.png"), full_page=True)
            if label == "phone":
                assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
        page.set_viewport_size(own)


@pytest.fixture
def signed(ui_deployment: Deployment, tmp_path: Path) -> Path:
    """A PDF signed at B-LT by the demo official (made before the browser's event loop runs)."""
    key = subscriber_key(ui_deployment.authority, issue_in_hsm(ui_deployment))
    target = tmp_path / "giấy-xác-nhận.pdf"
    options = SigningOptions(level=Level.B_LT)
    services = StatusServices(ui_deployment.authority)
    sign_as_holder(services, key, one_page_pdf(tmp_path / "in.pdf"), target, options, actor="t")
    return target


@pytest.fixture
def shadow_attack(ui_deployment: Deployment, tmp_path: Path) -> Path:
    """A signed decision whose amount was swapped after signing (10,000,000 -> 990,000,000 VND)."""
    services = StatusServices(ui_deployment.authority)
    original = shadow_attack_original(tmp_path / "quyet-dinh.pdf")
    _, attacked = signed_and_changed(services, ui_deployment, original, tmp_path, Level.B_LT, shadow_attacked)
    return attacked


_DROP = """async ([content, name]) => {
  const bytes = Uint8Array.from(atob(content), (c) => c.charCodeAt(0));
  const files = new DataTransfer();
  files.items.add(new File([bytes], name, { type: "application/pdf" }));
  const zone = document.getElementById("drop");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: files, bubbles: true, cancelable: true }));
  }
}"""
_WATCH_PROGRESS = """() => {
  window.progressSeen = [];
  const shown = document.getElementById("uploading");
  new MutationObserver(() => window.progressSeen.push(shown.hidden ? "hidden" : "shown"))
    .observe(shown, { attributes: true });
}"""


def test_a_citizen_drops_a_pdf_and_reads_who_signed_when_and_what_was_checked(
    signed: Path, server: str, browser: Browser, artefacts: Path
) -> None:
    page = browser.new_page(viewport=DESKTOP, locale="vi-VN")
    inspector = Inspector(page, artefacts)
    page.goto(f"{server}/verify")
    inspector.check("verify-empty")
    reached = []
    for _ in range(6):  # the keyboard alone reaches the file chooser and the button, focus drawn
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
    assert "file" in reached and "check" in reached, reached
    page.focus("#check")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"

    page.evaluate(_DROP, [base64.b64encode(signed.read_bytes()).decode(), signed.name])
    assert signed.name in page.inner_text("#chosen")
    page.evaluate(_WATCH_PROGRESS)
    with page.expect_request(lambda r: r.method == "POST" and "/verify" in r.url) as sent:
        page.click("#check")
    assert sent.value.resource_type == "xhr"  # the page's own upload, with its progress bar
    page.wait_for_selector("section.card")
    assert "shown" in page.evaluate("window.progressSeen")
    assert page.inner_text("#sha256") == hashlib.sha256(signed.read_bytes()).hexdigest()
    facts = page.inner_text("section.file")
    assert signed.name in facts and f"{signed.stat().st_size:,}".replace(",", ".") + " byte" in facts
    card = page.inner_text("section.card")
    assert "Hợp lệ" in page.inner_text("section.card .label") and HOLDER in card
    assert TIME.search(card), card
    inspector.check("verify-valid")

    page.goto(f"{server}/verify?lang=en")
    page.set_input_files("#file", str(signed))  # the file chooser alone, as without a mouse
    page.click("#check")
    page.wait_for_selector("section.card")
    assert "Valid" in page.inner_text("section.card .label")
    assert re.search(r"\d\d:\d\d:\d\d on \d\d/\d\d/\d{4} \(Vietnam time\)", page.inner_text("section.card"))
    inspector.check("verify-valid-en", "en")


def test_a_shadow_attack_is_named_and_shown_boxed_on_the_page(
    shadow_attack: Path, server: str, browser: Browser, artefacts: Path
) -> None:
    page = browser.new_context(accept_downloads=True, viewport=DESKTOP).new_page()
    inspector = Inspector(page, artefacts)
    page.goto(f"{server}/verify")
    page.set_input_files("#file", str(shadow_attack))
    with page.expect_download() as download:  # the report PDF first: it carries the drawing too
        page.click("button[formaction^='/verify/report.pdf']")
    report = artefacts / "verify-shadow-attack-report.pdf"
    download.value.save_as(report)
    text = subprocess.run(["pdftotext", str(report), "-"], capture_output=True, check=True, text=True).stdout
    assert "Nội dung trang 1 bị thay thế sau khi ký: không được phép" in " ".join(text.split())
    listed = subprocess.run(["pdfimages", "-list", str(report)], capture_output=True, check=True, text=True)
    assert len(listed.stdout.splitlines()) >= 3, listed.stdout  # the header's two lines and the drawing
    page.click("#check")
    page.wait_for_selector("section.card")
    card = page.locator("section.card").first
    assert "TOTAL_PASSED" not in (card.get_attribute("class") or "")
    assert "Nội dung trang 1 bị thay thế sau khi ký: không được phép" in card.inner_text()
    images = card.locator("figure.difference img")
    assert images.count() == 2
    for index in range(2):  # drawn (not a broken image) and on screen
        assert images.nth(index).evaluate("image => image.complete && image.naturalWidth > 0")
        assert images.nth(index).is_visible()
    assert re.search(r"Trang 1: .* [1-9]\d* vùng thay đổi", card.locator("figcaption").inner_text())
    with page.expect_download() as signed_version:  # the exact bytes the signer signed, cut from the upload
        card.locator("form.revision button").click()
    assert signed_version.value.suggested_filename == "changed-ban-da-ky.pdf"
    revision = Path(signed_version.value.path())
    assert shadow_attack.read_bytes().startswith(revision.read_bytes()) and revision.stat().st_size > 1000
    inspector.check("verify-shadow-attack")


def test_an_officer_revokes_after_a_confirmation_with_a_reason_that_fits(
    ui_deployment: Deployment, server: str, browser: Browser, artefacts: Path
) -> None:
    deployment = ui_deployment
    secret = officer(deployment, "Lê Thị Hoa", "hoa")
    person = issue_in_hsm(deployment)
    seal = issue_in_hsm(deployment, "organisation", "seal-so-tu-phap-ha-noi.json")
    page = browser.new_page(viewport=DESKTOP)
    inspector = Inspector(page, artefacts)
    page.goto(f"{server}/console/login")
    inspector.check("console-login")
    sign_in(page, server, "hoa", secret)
    page.wait_for_selector("table")
    assert HOLDER in page.inner_text("table")  # the holder's name and agency, not the DN
    assert "CN=" not in page.inner_text("table")
    inspector.check("console-certificates")

    page.goto(f"{server}/console/certificates/{seal}/revoke")
    offered = set(page.eval_on_selector_all("input[name=reason]", "inputs => inputs.map(i => i.value)"))
    assert offered == {case for case, kinds in CASE_KINDS.items() if CertificateKind.ORGANISATION in kinds}

    page.goto(f"{server}/console/certificates")
    page.click(f"a[href^='/console/certificates/{person}/revoke']")
    offered = set(page.eval_on_selector_all("input[name=reason]", "inputs => inputs.map(i => i.value)"))
    assert offered == {case for case, kinds in CASE_KINDS.items() if CertificateKind.INDIVIDUAL in kinds}
    assert "CN=" in page.inner_text("main")  # the DN on the detail, under the holder's name
    page.check("#reason-retired")
    page.click("main button[type=submit]")
    page.wait_for_selector("#confirm-question")
    assert page.inner_text("#confirm-reason") == "Nghỉ hưu" and HOLDER in page.inner_text("form.confirm")
    inspector.check("console-revoke-confirm")
    page.click("form.confirm button[type=submit]")
    assert "Đã thu hồi" in page.inner_text("#message") and HOLDER in page.inner_text("#message")
    page.goto(f"{server}/console/certificates?q={person}")
    assert "Đã thu hồi" in page.inner_text("table")
    page.click(f"a[href^='/console/certificates/{person}?']")  # the detail page, with the DN
    page.wait_for_selector("#status")
    inspector.check("console-certificate-detail")


def test_an_official_mistypes_the_pin_and_signs_without_uploading_again(
    ui_deployment: Deployment, server: str, browser: Browser, artefacts: Path, tmp_path: Path
) -> None:
    deployment = ui_deployment
    serial = issue_in_hsm(deployment)
    secret = signing_account(deployment, "create-official", serial, signature_png(tmp_path / "ky.png"), "anh")
    document = one_page_pdf(tmp_path / "quyết-định-số-12.pdf")
    page = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 1600}).new_page()
    inspector = Inspector(page, artefacts)
    sign_in(page, server, "anh", secret)
    page.wait_for_selector("#file")
    inspector.check("console-sign")
    page.set_input_files("#file", str(document))
    page.click("form[action^='/console/sign/preview'] button[type=submit]")
    page.wait_for_selector("#page img")
    page.wait_for_load_state("load")
    frame = page.locator("#page").bounding_box()
    assert frame is not None
    page.mouse.move(frame["x"] + frame["width"] * 0.55, frame["y"] + frame["height"] * 0.70)
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] * 0.90, frame["y"] + frame["height"] * 0.80, steps=8)
    page.mouse.up()
    placed = page.input_value("#box-field")
    drawn = page.locator("#box").bounding_box()

    page.fill("#pin", "135790")  # wrong
    page.click("form[action^='/console/sign/'] button[type=submit] >> nth=-1")
    page.wait_for_selector("#error")
    assert "Sai mã PIN" in page.inner_text("#error")
    assert page.input_value("#box-field") == placed and page.is_visible("#box")
    again = page.locator("#box").bounding_box()
    assert drawn is not None and again is not None
    assert abs(again["x"] - drawn["x"]) < 2 and abs(again["width"] - drawn["width"]) < 2
    assert page.inner_text("#filename") == document.name
    inspector.check("console-wrong-pin")
    page.focus("#page")  # the keyboard moves the box too: one step of 6 points to the left
    page.keyboard.press("ArrowLeft")
    moved = [float(n) for n in page.input_value("#box-field").split(",")]
    assert [round(a - b, 1) for a, b in zip(moved, map(float, placed.split(",")), strict=True)] == [
        -6,
        0,
        0,
        0,
    ]
    page.fill("#pin", PIN)
    with page.expect_download() as download:
        page.click("form[action^='/console/sign/'] button[type=submit] >> nth=-1")
    assert download.value.suggested_filename == "quyết-định-số-12-da-ky.pdf"
    target = tmp_path / "signed.pdf"
    download.value.save_as(target)
    assert target.read_bytes().startswith(b"%PDF")
