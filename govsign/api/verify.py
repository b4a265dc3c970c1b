"""`POST /api/v1/verify`: anyone uploads a signed PDF and gets the validation report as JSON.

Public, so it is bounded: the upload is read under ``GOVSIGN_MAX_VERIFY_MB`` (413 past it, counted as it
arrives by :class:`govsign.http.hardening.BodyGuard`) and spooled to disk, each client address gets a few
validations a second (429 past them), and the validator fetches revocation data only as
:mod:`signing.fetch_policy` allows.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import TypeAdapter

from govsign.http.deps import AuthorityDep, ClientAddress, LimitsDep, SettingsDep
from govsign.http.validation import validation_report
from signing.validation import REPORT_SCHEMA, ValidationReport

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


@router.post("/verify")
def verify(
    authority: AuthorityDep,
    settings: SettingsDep,
    limits: LimitsDep,
    client: ClientAddress,
    file: Annotated[UploadFile, File(description="the signed PDF")],
    password: Annotated[
        str | None, Form(description="the PDF's user password, when it is encrypted with one")
    ] = None,
) -> dict[str, Any]:
    """The EN 319 102-1 report on every signature and document time-stamp of the uploaded PDF."""
    report = validation_report(
        file, authority=authority, settings=settings, limits=limits, client=client, password=password
    )
    return report.to_json()
