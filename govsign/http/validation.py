"""Validating one uploaded PDF for anyone: what the API's `/verify` routes and the public web page share."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, File, HTTPException, UploadFile

from govsign.config.settings import Settings
from govsign.http.deps import ClientAddress, LimitsDep, SettingsDep
from govsign.http.hardening import ClientLimits
from govsign.http.signing import spool_upload

__all__ = ["SpooledPdf", "spooled_for_validation"]


@contextmanager
def spooled_for_validation(
    file: UploadFile, *, settings: Settings, limits: ClientLimits, client: str
) -> Iterator[Path]:
    """The upload in a private spool file for as long as the ``with`` block needs it (a face that reads the
    document again after validating it: the ETSI report, the signed revision, the visual comparison), under
    the same rate limit and size cap as every validation."""
    if not limits.verify.allow(client):
        raise HTTPException(429, "too many validations from your address; try again in a few seconds")
    spool = settings.home / "spool"
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="verify-", dir=spool))
    try:
        source, _ = spool_upload(file, folder, settings.max_verify_bytes)
        yield source
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _spooled_pdf(
    settings: SettingsDep,
    limits: LimitsDep,
    client: ClientAddress,
    file: Annotated[UploadFile, File(description="the signed PDF")],
) -> Iterator[Path]:
    with spooled_for_validation(file, settings=settings, limits=limits, client=client) as source:
        yield source


SpooledPdf = Annotated[Path, Depends(_spooled_pdf)]
"""The uploaded PDF as a private spool file, for a route's whole run (:func:`spooled_for_validation`)."""
