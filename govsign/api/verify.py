"""`POST /api/v1/verify`: anyone uploads a signed PDF and gets the validation report as JSON, or as ETSI
TS 119 102-2 XML when the request's ``Accept`` header asks for ``application/xml``.

Public, so it is bounded: the upload is read under ``GOVSIGN_MAX_VERIFY_MB`` (413 past it, counted as it
arrives by :class:`govsign.http.hardening.BodyGuard`) and spooled to disk, each client address gets a few
validations a second (429 past them), and the validator fetches revocation data only as
:mod:`signing.fetch_policy` allows.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, File, Header, Response, UploadFile
from pydantic import TypeAdapter

from govsign.access.trust_store import trust_store
from govsign.config.verification import fetch_policy
from govsign.http.deps import AuthorityDep, ClientAddress, LimitsDep, SettingsDep
from govsign.http.validation import spooled_for_validation, validation_report
from signing.etsi_report import etsi_report_xml
from signing.validation import REPORT_SCHEMA, ValidationReport, validate_pdf

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


_XML = "application/xml"


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
    limits: LimitsDep,
    client: ClientAddress,
    file: Annotated[UploadFile, File(description="the signed PDF")],
    accept: Annotated[str, Header(description="application/xml for the ETSI TS 119 102-2 report")] = "",
) -> dict[str, Any] | Response:
    """The EN 319 102-1 report on every signature and document time-stamp of the uploaded PDF."""
    if not wants_xml(accept):
        report = validation_report(file, authority=authority, settings=settings, limits=limits, client=client)
        return report.to_json()
    trust = trust_store(authority)
    with spooled_for_validation(file, settings=settings, limits=limits, client=client) as source:
        report = validate_pdf(source, trust, fetch_policy(settings))
        return Response(etsi_report_xml(source, report, trust), media_type=_XML)


def wants_xml(accept: str) -> bool:
    """Whether an ``Accept`` header prefers XML to JSON (the first of them it names; JSON when neither)."""
    for media_range in accept.split(","):
        media_type = media_range.split(";")[0].strip().lower()
        if media_type in (_XML, "text/xml"):
            return True
        if media_type == "application/json":
            return False
    return False
