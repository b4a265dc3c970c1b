"""`/verify`: the page where anyone drops a signed PDF and reads the report, in Vietnamese or English.

Server-rendered (Jinja2, no JavaScript needed); the upload goes through the same checks as
`POST /api/v1/verify` (size limit, per-client rate, guarded fetching).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ca.errors import CaError
from govsign.api.verify import validation_report
from signing.errors import SigningError

router = APIRouter(tags=["web"])
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Kiểm tra chữ ký số trên tài liệu PDF",
        "switch": "English",
        "intro": "Chọn tệp PDF đã ký để biết chữ ký có hợp lệ không, ai đã ký, ký khi nào và tài liệu có bị thay đổi.",
        "choose": "Tệp PDF:",
        "check": "Kiểm tra",
        "none": "Tài liệu này không có chữ ký số.",
        "signer": "Người ký",
        "time": "Thời gian ký (giờ Việt Nam)",
        "unknown": "không xác định",
        "verdict": "Kết luận (ETSI EN 319 102-1)",
        "changes": "Thay đổi sau khi ký",
        "anchor": "Tổ chức chứng thực gốc",
        "refused": "Không truy vấn:",
    },
    "en": {
        "title": "Check the digital signatures of a PDF",
        "switch": "Tiếng Việt",
        "intro": "Choose a signed PDF to learn whether its signatures are valid, who signed, when, and whether it "
        "changed since.",
        "choose": "PDF file:",
        "check": "Check",
        "none": "This document carries no digital signature.",
        "signer": "Signer",
        "time": "Signing time (Vietnam time)",
        "unknown": "unknown",
        "verdict": "Verdict (ETSI EN 319 102-1)",
        "changes": "Changes after signing",
        "anchor": "Trust anchor",
        "refused": "Not fetched:",
    },
}
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
