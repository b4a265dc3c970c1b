"""Every page and every refusal in Vietnamese carries no English word of the catalogues, and the reverse
(tests/page_words.py builds the deny-lists from the catalogues themselves).

The templates are rendered with the application's own environment and filters, with values for every
branch: a report with a card of each indication, each console page for each kind of user, and a refusal
of every kind the faces map (govsign.errors), given in English as the domain raises most of them."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ca.activation.rules import CredentialLocked, WrongActivation
from ca.errors import ConfigurationError, HsmUnavailable, InvalidRequest, LintFailed, NotFound, StateConflict
from ca.profiles import CertificateKind
from govsign.access.accounts import AccountKind
from govsign.access.administrators import Role
from govsign.access.approvals import RequestView
from govsign.access.console_auth import ConsoleUser
from govsign.access.errors import NotAuthenticated, NotAuthorised, PendingApproval
from govsign.web.console_officers import REQUEST_FIELDS
from govsign.web.presentation import error_text, page_templates
from govsign.web.report_pdf import report_pdf
from govsign.web.terms import TERMS
from govsign.web.texts import CONSOLE_TEXTS, TEXTS
from signing.batch_store import BatchReport
from signing.errors import DocumentRefused, DocumentTookTooLong, DocumentTooLarge, InvalidDocument
from signing.fields import SignatureField
from signing.pades import Level
from signing.validation import report as vr
from signing.visual_diff import Box, PageDifference
from tests.page_words import foreign_words

LANGUAGES = ("vi", "en")
HOLDER = "CN=Nguyễn Văn Ánh,O=Sở Tư pháp thành phố Hà Nội,C=VN"
DATA = (
    "quyết-định.pdf",
    "govsign root CA",
    "Nguyễn Văn Ánh",
    "Sở Tư pháp thành phố Hà Nội",
    "Ban Cơ yếu Chính phủ",
    "CA chuyên dùng Chính phủ",
)
NOW = dt.datetime(2026, 11, 23, 9, 12, 47, tzinfo=dt.UTC)
TEMPLATES = page_templates()


def _blank_png() -> bytes:
    image, output = Image.new("RGB", (40, 56), "white"), io.BytesIO()
    image.save(output, format="PNG")
    return output.getvalue()


DRAWN = {"Ky1": [PageDifference(1, (Box(2, 2, 8, 8),), _blank_png(), _blank_png())]}


def _user(role: Role | None = None, kind: AccountKind | None = None) -> ConsoleUser:
    return ConsoleUser("hoa", "console:hoa", role, kind, 1, "csrf-token")


def _verdict(indication: vr.Indication, sub: vr.SubIndication | None) -> vr.SignatureVerdict:
    signer = vr.Signer(
        "Nguyễn Văn Ánh", "Sở Tư pháp thành phố Hà Nội", ["CCCD:001085012345"], "1a2b", "CN=CA"
    )
    checks = [
        vr.Check.of("integrity", True, "sha256"),
        vr.Check.of("trust", None, ""),
        vr.Check.of("signature", False, ""),
    ]
    return vr.SignatureVerdict(
        "Ky1",
        "signature",
        indication,
        sub,
        "Hợp lệ.",
        "Valid.",
        signer,
        "2026-11-23T16:12:47+07:00",
        Level.B_LT,
        "none",
        "không có",
        "CN=govsign root CA,O=Ban Cơ yếu Chính phủ",
        checks,
        changes=[
            vr.Change(
                vr.ChangeKind.PAGE_CONTENT_REPLACED,
                1,
                None,
                False,
                "Nội dung trang 1 đã bị thay thế.",
                "The content of page 1 was replaced.",
                ["Reference(idnum=6, generation=0)"],
            )
        ],
        signing_time_proven=indication is not vr.Indication.TOTAL_FAILED,
    )


def _report() -> vr.ValidationReport:
    verdicts = [
        _verdict(vr.Indication.TOTAL_PASSED, None),
        _verdict(vr.Indication.INDETERMINATE, vr.SubIndication.TRY_LATER),
        _verdict(vr.Indication.TOTAL_FAILED, vr.SubIndication.HASH_FAILURE),
    ]
    return vr.ValidationReport("govsign-validation/1", "ab" * 32, "2026-11-23T16:12:47+07:00", verdicts, [])


def _pages() -> dict[str, tuple[str, dict[str, Any]]]:
    """Each page (a name for the failure message) with its template and its values."""
    officer, official, clerk = (
        _user(Role.RA_OFFICER),
        _user(kind=AccountKind.OFFICIAL),
        _user(kind=AccountKind.CLERK),
    )
    certificate = {"serial": "1a2b", "subject": HOLDER, "profile": "individual", "not_after": NOW}
    rows = [{**certificate, "status": "valid"}, {**certificate, "status": "revoked", "reason": "superseded"}]
    waiting = RequestView(
        "req1",
        "certificate.issue.organisation",
        "issue",
        "console:hoa",
        2,
        ["console:lan"],
        "pending",
        NOW,
        NOW,
        None,
    )
    batch = BatchReport(
        "b1",
        "running",
        2,
        1,
        1,
        [
            {"name": "a.pdf", "state": "done", "error": None},
            {"name": "b.pdf", "state": "failed", "error": "bad xref"},
        ],
    )
    field = SignatureField("Ky1", 1, (0, 0, 10, 10), False, False, None, ())
    placement = {"appearance": "approval", "extra": {}, "box": "1,2,3,4", "field": "Ky1"}
    preview = {
        "upload_id": "u",
        "digest": "ab" * 32,
        "width": 595,
        "height": 842,
        "filename": "quyết-định.pdf",
    }
    return {
        "verify": ("verify.html", {}),
        "verify-report": (
            "verify.html",
            {"report": _report(), "checked": {"name": "a.pdf", "size": 39158}, "differences": DRAWN},
        ),
        "verify-error": ("verify.html", {"error": "x"}),
        "login": ("console_login.html", {"error": "x"}),
        "certificates": (
            "console_certificates.html",
            {"user": officer, "rows": rows, "q": "", "pending": 1},
        ),
        "issue": ("console_issue.html", {"user": officer, "fields": REQUEST_FIELDS}),
        "revoke-choose": (
            "console_revoke.html",
            {"user": officer, "record": certificate, "reasons": ["retired"]},
        ),
        "revoke-confirm": (
            "console_revoke.html",
            {"user": officer, "record": certificate, "reason": "retired"},
        ),
        "approvals": ("console_approvals.html", {"user": officer, "items": [waiting]}),
        "approvals-none": ("console_approvals.html", {"user": _user(Role.CA_ADMIN), "items": []}),
        "batch": ("console_batch.html", {"user": official, "report": batch}),
        "message": ("console_message.html", {"user": officer, "message": "x", "failed": True}),
        "pin": ("console_pin.html", {"user": official}),
        "sign-official": ("console_sign.html", {"user": official}),
        "sign-clerk": ("console_sign.html", {"user": clerk}),
        "preview": (
            "console_preview.html",
            {"user": official, "placement": placement, "empty_fields": [field], "error": "x", **preview},
        ),
    }


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", list(_pages()))
def test_every_page_speaks_only_its_language(name: str, language: str) -> None:
    template, values = _pages()[name]
    texts = TEXTS if template == "verify.html" else CONSOLE_TEXTS
    html = TEMPLATES.get_template(template).render(lang=language, t=texts[language], **values)
    assert foreign_words(html, language, DATA) == set(), name


REFUSALS: list[Exception] = [
    PendingApproval("req1", "certificate.issue.organisation", 2, "issue an agency's seal certificate"),
    InvalidRequest(
        "the Decree 68 case 'died' does not apply to an agency's seal certificate / trường hợp 'died' "
        "không áp dụng cho chứng thư số của cơ quan, tổ chức"
    ),
    InvalidRequest("choose a profile: individual, organisation or device"),
    LintFailed("the certificate breaks rule e_sub_cert_eku_missing"),
    InvalidDocument("the file is not a PDF"),
    DocumentTooLarge("the document is larger than the limit"),
    DocumentTookTooLong("the document took too long to process"),
    DocumentRefused("a certified document takes no new field"),
    NotAuthenticated("your console session has ended; sign in again"),
    CredentialLocked("the signing key is locked"),
    WrongActivation("wrong PIN", attempts_left=2, pin=True),
    NotAuthorised("this page is not for your role"),
    NotFound("no certificate with serial 1a2b"),
    StateConflict("request req1 is executed; it takes no more votes"),
    HsmUnavailable("the HSM does not answer"),
    ConfigurationError("no issuing CA is configured"),
    NotAuthorised("Sai mã PIN kích hoạt (còn 2 lần thử)."),
]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda error: type(error).__name__)
def test_every_refusal_is_told_in_the_page_language(refusal: Exception, language: str) -> None:
    html = TEMPLATES.get_template("console_message.html").render(
        lang=language, t=CONSOLE_TEXTS[language], message=error_text(refusal, language), failed=True
    )
    assert foreign_words(html, language) == set(), error_text(refusal, language)


def test_the_catalogues_name_every_enum_value_in_both_languages() -> None:
    from ca.reasons import CASE_KINDS, RevocationReason
    from govsign.access.approvals import DESCRIPTIONS
    from signing.appearance import AppearanceMode

    wanted = {
        "indication": {i.value for i in vr.Indication},
        "sub_indication": {s.value for s in vr.SubIndication},
        "reason": set(CASE_KINDS),
        "rfc5280": {r.value for r in RevocationReason},
        "profile": {k.value for k in CertificateKind},
        "appearance": {a.value for a in AppearanceMode},
        "action": set(DESCRIPTIONS),
        "standing": {s.value for s in vr.CertificateStanding},
    }
    for language in LANGUAGES:
        for group, values in wanted.items():
            assert values <= set(TERMS[language][group]), (
                language,
                group,
                values - set(TERMS[language][group]),
            )
    assert set(TERMS["vi"]) == set(TERMS["en"])
    assert all(set(TERMS["vi"][group]) == set(TERMS["en"][group]) for group in TERMS["vi"])
    assert set(TEXTS["vi"]) == set(TEXTS["en"]) and set(CONSOLE_TEXTS["vi"]) == set(CONSOLE_TEXTS["en"])


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_report_pdf_speaks_only_its_language(language: str, tmp_path: Path) -> None:
    """Its labels, indications and times from the catalogues (no "Common Name:"), read back by poppler."""
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report_pdf(_report(), language, DRAWN))
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True
    ).stdout
    words = text.decode()
    # the ETSI codes beside the words (TOTAL_PASSED, TRY_LATER) and the report's schema are not words
    prose = re.sub(r"\b[A-Z][A-Z0-9_]{3,}\b|govsign-validation/\d+", " ", words)
    assert foreign_words(html.escape(prose), language, DATA) == set()
    assert ("16:12:47 ngày 23/11/2026" if language == "vi" else "16:12:47 on 23/11/2026") in words
    images = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, check=True, text=True
    ).stdout
    assert len(images.splitlines()) == 2 + 3  # a header of two lines, the drawing under each of three cards


@pytest.mark.parametrize("name", list(_pages()))
def test_no_page_needs_an_inline_style(name: str) -> None:
    """The one stylesheet carries every style, so a CSP without 'unsafe-inline' for styles blocks nothing."""
    template, values = _pages()[name]
    page = TEMPLATES.get_template(template).render(lang="vi", t=TEXTS["vi"] | CONSOLE_TEXTS["vi"], **values)
    assert "<style" not in page and " style=" not in page
    assert '<link rel="stylesheet" href="/static/govsign.css">' in page
