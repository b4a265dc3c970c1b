"""`POST /api/v1/verify`: anyone uploads a signed PDF and gets the validation report as JSON, or as ETSI
TS 119 102-2 XML when the request's ``Accept`` header asks for ``application/xml``; with a signature field's
name, the revision that signature signed (``/verify/revision``) and a page of it beside the same page now,
the changes boxed (``/verify/difference``).

Every one of them is public, so bounded the same way: the upload is read under ``GOVSIGN_MAX_VERIFY_MB``
(413 past it, counted as it arrives by :class:`govsign.http.hardening.BodyGuard`) and spooled to disk, each
client address gets a few validations a second (429 past them), and the validator fetches revocation data
only as :mod:`signing.fetch_policy` allows.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Query, Response
from pydantic import TypeAdapter

from govsign.access.trust_store import trust_store
from govsign.config.verification import fetch_policy
from govsign.http.deps import AuthorityDep, SettingsDep
from govsign.http.validation import SpooledPdf
from signing.etsi_report import etsi_report_xml
from signing.validation import REPORT_SCHEMA, ValidationReport, validate_pdf
from signing.visual_diff import compare_page, signed_revision

router = APIRouter(prefix="/api/v1", tags=["validation"])


@router.get("/verify/schema")
def schema() -> dict[str, Any]:
    """The JSON Schema of the report (its ``schema`` field names the version: govsign-validation/1)."""
    return report_schema()


@cache
def report_schema() -> dict[str, Any]:
    """Derived from the report's own types, so it cannot drift from what the validator writes; fields
    are only ever added within a version."""
    schema = TypeAdapter(ValidationReport).json_schema()
    schema["$id"] = f"urn:govsign:schema:{REPORT_SCHEMA}"
    schema["title"] = f"govsign validation report ({REPORT_SCHEMA})"
    schema["properties"]["all_passed"] = {
        "type": "boolean",
        "description": "true when there is at least one signature and every one is TOTAL_PASSED",
    }
    schema["required"].append("all_passed")
    return schema


_XML, _PDF, _PNG = "application/xml", "application/pdf", "image/png"


@router.post(
    "/verify",
    response_model=dict[str, Any],
    responses={
        200: {
            "description": "the report: JSON (govsign-validation/1), or with `Accept: application/xml` the "
            "ETSI TS 119 102-2 validation report",
            "content": {_XML: {"schema": {"type": "string"}}},
        }
    },
)
def verify(
    authority: AuthorityDep,
    settings: SettingsDep,
    source: SpooledPdf,
    accept: Annotated[str, Header(description="application/xml for the ETSI TS 119 102-2 report")] = "",
    password: Annotated[
        str | None, Form(description="the PDF's user password, when it is encrypted with one")
    ] = None,
) -> dict[str, Any] | Response:
    """The EN 319 102-1 report on every signature and document time-stamp of the uploaded PDF."""
    trust = trust_store(authority)
    report = validate_pdf(source, trust, fetch_policy(settings), password=password or None)
    if wants_xml(accept):
        return Response(etsi_report_xml(source, report, trust), media_type=_XML)
    return report.to_json()


def wants_xml(accept: str) -> bool:
    """Whether an ``Accept`` header prefers XML to JSON (the first of them it names; JSON when neither)."""
    for media_range in accept.split(","):
        media_type = media_range.split(";")[0].strip().lower()
        if media_type in (_XML, "text/xml"):
            return True
        if media_type == "application/json":
            return False
    return False


FieldName = Annotated[str, Query(max_length=200, description="the signature field's name, as in the report")]


@router.post("/verify/revision", response_class=Response, responses={200: {"content": {_PDF: {}}}})
def signed_revision_of(source: SpooledPdf, field: FieldName) -> Response:
    """The document exactly as the signer of ``field`` signed it: the bytes its signature covers."""
    return Response(
        signed_revision(source, field),
        media_type=_PDF,
        headers={"content-disposition": 'attachment; filename="ban-da-ky.pdf"'},
    )


@router.post("/verify/difference", response_class=Response, responses={200: {"content": {_PNG: {}}}})
def visual_difference(
    source: SpooledPdf,
    field: FieldName,
    page: Annotated[int, Query(ge=1, le=10_000, description="the page, from 1")] = 1,
) -> Response:
    """Page ``page`` as ``field``'s signer signed it (left) and as it is now (right), changes boxed in red;
    the boxes, in pixels at 100 dpi from the top left corner, are in the ``X-Changed-Regions`` header."""
    difference = compare_page(source, field, page)
    regions = ";".join(f"{b.left},{b.top},{b.right},{b.bottom}" for b in difference.boxes)
    return Response(difference.side_by_side_png(), media_type=_PNG, headers={"x-changed-regions": regions})
