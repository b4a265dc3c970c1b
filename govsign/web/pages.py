"""`/verify`: the page where anyone drops a signed PDF and reads the report, in Vietnamese or English.

Server-rendered (Jinja2, no JavaScript needed); the upload goes through the same checks as
`POST /api/v1/verify` (size limit, per-client rate, guarded fetching).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ca.errors import CaError
from govsign.api.verify import validation_report
from govsign.web.report_pdf import report_pdf
from govsign.web.texts import TEXTS
from signing.errors import SigningError

router = APIRouter(tags=["web"])
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)

Language = Annotated[str, Query(pattern="^(vi|en)$")]


def _page(lang: str, **values: Any) -> HTMLResponse:
    html = _templates.get_template("verify.html").render(lang=lang, t=TEXTS[lang], **values)
    return HTMLResponse(html, status_code=values.pop("status", 200))


@router.get("/verify", response_class=HTMLResponse)
def verify_page(lang: Language = "vi") -> HTMLResponse:
    return _page(lang)


@router.post("/verify", response_class=HTMLResponse)
def verify_upload(
    request: Request, file: Annotated[UploadFile, File()], lang: Language = "vi"
) -> HTMLResponse:
    try:
        report = validation_report(request, file)
    except (CaError, SigningError) as error:
        return _page(lang, error=str(error), status=422)
    return _page(lang, report=report)


@router.post("/verify/report.pdf", response_class=Response)
def verify_report_pdf(
    request: Request, file: Annotated[UploadFile, File()], lang: Language = "vi"
) -> Response:
    """The same report as a PDF to download (errors come back as the page, with 422)."""
    try:
        report = validation_report(request, file)
    except (CaError, SigningError) as error:
        return _page(lang, error=str(error), status=422)
    name = f"bao-cao-kiem-tra-{report.document_sha256[:12]}.pdf"
    return Response(
        report_pdf(report, lang),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
