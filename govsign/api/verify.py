"""`POST /api/v1/verify`: anyone uploads a signed PDF and gets the validation report as JSON.

Public, so it is bounded: the upload is read under ``GOVSIGN_MAX_VERIFY_MB`` (413 past it, counted as it
arrives by :class:`govsign.hardening.BodyGuard`) and spooled to disk, each client address gets a few
validations a second (429 past them), and the validator fetches revocation data only as
:mod:`signing.fetch_policy` allows.
"""

from __future__ import annotations

import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Request, UploadFile
from pydantic import TypeAdapter

from ca.authority import Authority
from govsign.access.trust_store import trust_store
from govsign.api.signing import spool_upload
from govsign.config.settings import Settings
from govsign.config.verification import fetch_policy
from govsign.hardening import ClientLimits
from signing.validation import REPORT_SCHEMA, ValidationReport, validate_pdf

router = APIRouter(prefix="/api/v1", tags=["validation"])


def validation_report(request: Request, file: UploadFile) -> ValidationReport:
    """Rate-limit the client, spool the upload privately, validate it, remove the spool."""
    settings: Settings = request.app.state.settings
    limits: ClientLimits = request.app.state.limits
    if not limits.verify.allow(request.client.host if request.client else "unknown"):
        raise HTTPException(429, "too many validations from your address; try again in a few seconds")
    authority: Authority = request.app.state.authority()
    spool = settings.home / "spool"
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="verify-", dir=spool))
    try:
        source, _ = spool_upload(file, folder, settings.max_verify_bytes)
        return validate_pdf(source, trust_store(authority), fetch_policy(settings))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
    request: Request, file: Annotated[UploadFile, File(description="the signed PDF")]
) -> dict[str, Any]:
    """The EN 319 102-1 report on every signature and document time-stamp of the uploaded PDF."""
    return validation_report(request, file).to_json()
