"""Validating one uploaded PDF for anyone: what the API's `/verify` and the public web page share."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import HTTPException, UploadFile

from ca.authority import Authority
from govsign.access.trust_store import trust_store
from govsign.config.settings import Settings
from govsign.config.verification import fetch_policy
from govsign.http.hardening import ClientLimits
from govsign.http.signing import spool_upload
from signing.validation import ValidationReport, validate_pdf

__all__ = ["validation_report"]


def validation_report(
    file: UploadFile,
    *,
    authority: Authority,
    settings: Settings,
    limits: ClientLimits,
    client: str,
    password: str | None = None,
) -> ValidationReport:
    """Rate-limit the ``client`` address, spool the upload privately, validate it against ``authority``'s
    trust store (opening it with ``password`` when it is encrypted with a user password), remove the
    spool."""
    if not limits.verify.allow(client):
        raise HTTPException(429, "too many validations from your address; try again in a few seconds")
    spool = settings.home / "spool"
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="verify-", dir=spool))
    try:
        source, _ = spool_upload(file, folder, settings.max_verify_bytes)
        return validate_pdf(source, trust_store(authority), fetch_policy(settings), password=password or None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
