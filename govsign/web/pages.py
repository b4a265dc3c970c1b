"""`/verify`: the page where anyone drops a signed PDF and reads the report, in Vietnamese or English.

Server-rendered (Jinja2); without JavaScript the file chooser and the form work alone, with it
/static/verify.js adds the drop zone and the upload's progress; the upload goes through the same checks as
`POST /api/v1/verify` (size limit counted as the body arrives, per-client rate, guarded fetching), and a
refused upload is answered with the page saying why (:func:`upload_refused_page`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from ca.authority import Authority
from ca.signing_keys import service_seal_key
from ca.status import StatusServices
from govsign.access.trust_store import trust_store
from govsign.config.settings import Settings
from govsign.config.verification import fetch_policy
from govsign.errors import DOMAIN_ERRORS, http_status
from govsign.http.deps import AuthorityDep, ClientAddress, LimitsDep, ServicesDep, SettingsDep
from govsign.http.hardening import BodyRefused, ClientLimits
from govsign.http.validation import spooled_for_validation
from govsign.web.presentation import error_text, page_templates
from govsign.web.report_pdf import report_pdf
from govsign.web.texts import TEXTS
from signing.errors import DrawingBusy, SigningError
from signing.pades import Level, SigningOptions, sign_pdf
from signing.validation import ChangeKind, ValidationReport, validate_pdf
from signing.visual_diff import PageDifference, compare_page

router = APIRouter(tags=["web"])
_SEALER = "govsign validation service"
_templates = page_templates()

_PAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"content": {"text/html": {}}, "description": "the page again, saying what went wrong"}
    for status in (408, 413, 422, 429)
}


PAGE_PREFIX = "/verify"


def invalid_request_page(request: Request) -> HTMLResponse:
    """A malformed form post to a page (no file part, a text where the file belongs): the page again."""
    lang = _language(request.query_params.get("lang"))
    return _page(lang, error=TEXTS[lang]["no_file"], status=422)


def upload_refused_page(request: Request, refusal: BodyRefused) -> HTMLResponse:
    """An upload refused while it arrived (too large, or stalled): the page again, saying so."""
    lang = _language(request.query_params.get("lang"))
    return _page(lang, error=refusal.sentence(lang), status=refusal.status_code)


def _language(lang: str | None) -> str:
    """English when asked for, Vietnamese otherwise (a page never refuses a visitor over a query)."""
    return "en" if lang == "en" else "vi"


def _page(lang: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    html = _templates.get_template("verify.html").render(lang=lang, t=TEXTS[lang], **values)
    return HTMLResponse(html, status_code=status)


@dataclass(frozen=True)
class _Checked:
    report: ValidationReport
    name: str | None  # the upload's own name and size, shown with its SHA-256
    size: int | None
    differences: dict[str, list[PageDifference]] = field(default_factory=dict)  # by signature field


# changes people see on the page itself; a page drawing each, at most this many per document
_VISIBLE = frozenset({ChangeKind.PAGE_CONTENT_REPLACED, ChangeKind.PAGE_ADDED, ChangeKind.ANNOTATION_ADDED})
_MAX_DRAWN = 4


def _report_or_page(
    file: UploadFile | None,
    lang: str,
    password: str | None,
    *,
    authority: Authority,
    settings: Settings,
    limits: ClientLimits,
    client: str,
) -> _Checked | HTMLResponse:
    """The report on the upload with the changed pages drawn, or the page with the reason there is none."""
    if file is None:
        return _page(lang, error=TEXTS[lang]["no_file"], status=422)
    try:
        with spooled_for_validation(file, settings=settings, limits=limits, client=client) as source:
            policy = fetch_policy(settings)
            report = validate_pdf(source, trust_store(authority), policy, password=password or None)
            return _Checked(report, file.filename, file.size, _differences(source, report))
    except DOMAIN_ERRORS as error:
        return _page(lang, error=error_text(error, lang), status=http_status(error))
    except HTTPException as error:  # the per-address rate limit
        return _page(lang, error=error_text(error, lang), status=error.status_code)


def _differences(source: Path, report: ValidationReport) -> dict[str, list[PageDifference]]:
    """The pages changed after each signature (content replaced, a page or an annotation added), drawn as
    signed and as now with the changed regions boxed in red (:mod:`signing.visual_diff`)."""
    wanted = [
        (verdict.field_name, page)
        for verdict in report.signatures
        if verdict.kind == "signature"
        for page in sorted({c.page for c in verdict.changes if c.kind in _VISIBLE and c.page is not None})
    ]
    drawn: dict[str, list[PageDifference]] = {}
    for name, page in wanted[:_MAX_DRAWN]:
        try:
            drawn.setdefault(name, []).append(compare_page(source, name, page))
        except DrawingBusy:  # others are drawing: the report now, without waiting once per page
            break
        except SigningError:  # a revision that cannot be cut or drawn: the sentences still say what changed
            continue
    return drawn


@router.get("/verify", response_class=HTMLResponse)
def verify_page(lang: str | None = None) -> HTMLResponse:
    return _page(_language(lang))


def _checked_upload(
    authority: AuthorityDep,
    settings: SettingsDep,
    limits: LimitsDep,
    client: ClientAddress,
    file: Annotated[UploadFile | None, File()] = None,
    password: Annotated[str | None, Form()] = None,
    lang: str | None = None,
) -> _Checked | HTMLResponse:
    """The upload both pages take (the report on the page, or as a PDF), checked once."""
    return _report_or_page(
        file, _language(lang), password, authority=authority, settings=settings, limits=limits, client=client
    )


CheckedUpload = Annotated[_Checked | HTMLResponse, Depends(_checked_upload)]


@router.post("/verify", response_class=HTMLResponse, responses=_PAGE_ERRORS)
def verify_upload(outcome: CheckedUpload, lang: str | None = None) -> HTMLResponse:
    if isinstance(outcome, HTMLResponse):
        return outcome
    checked = {"name": outcome.name, "size": outcome.size}
    return _page(_language(lang), report=outcome.report, differences=outcome.differences, checked=checked)


@router.post(
    "/verify/report.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "the report as a PDF"},
        **_PAGE_ERRORS,
    },
)
def verify_report_pdf(
    outcome: CheckedUpload, services: ServicesDep, settings: SettingsDep, lang: str | None = None
) -> Response:
    """The same report as a PDF to download (errors come back as the page)."""
    if isinstance(outcome, HTMLResponse):
        return outcome
    name = f"bao-cao-kiem-tra-{outcome.report.document_sha256[:12]}.pdf"
    pdf = report_pdf(outcome.report, _language(lang), outcome.differences)
    return Response(
        _sealed(pdf, services, settings),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _sealed(pdf: bytes, services: StatusServices, settings: Settings) -> bytes:
    """The report signed (PAdES B-LT) with the service's own seal, so that a printed or forwarded report
    can itself be verified; unsigned for a deployment whose ceremony recorded no seal."""
    key = service_seal_key(services.authority)
    if key is None:
        return pdf
    spool = settings.home / "spool"
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=spool) as folder:
        source = Path(folder) / "report.pdf"
        source.write_bytes(pdf)
        options = SigningOptions(level=Level.B_LT)  # carries its own revocation data: checkable offline
        signed = sign_pdf(services, key, source, Path(folder) / "sealed.pdf", options, actor=_SEALER)
        return signed.target.read_bytes()
