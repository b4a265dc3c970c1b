"""`POST /api/v1/sign`: an official or agency clerk signs one PDF with their own key in the HSM.

The caller presents their API token (``Authorization: Bearer``) and, for this one request, their
activation PIN (``X-Activation-PIN``). The upload is streamed to a private spool folder on disk, never
held in memory, and refused with 413 past the configured size; the signed PDF comes back as the
response body and the spool is emptied whatever happens. The route is synchronous: FastAPI runs it in a
worker thread, where the HSM, the database and pyHanko may block.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from govsign.access.accounts import authorise_certificate
from govsign.http.access import SigningCaller
from govsign.http.deps import ClientAddress, ServicesDep, SettingsDep
from govsign.http.signing import (
    ActivationOtpHeader,
    ActivationPinHeader,
    holder_proof,
    sign_as_account,
    spool_upload,
)
from signing.pades import SignedDocument
from signing.request import SigningRequest

router = APIRouter(prefix="/api/v1", tags=["signing"])


@router.post(
    "/sign",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}}, "description": "the signed PDF"}},
)
def sign_document(
    services: ServicesDep,
    settings: SettingsDep,
    client: ClientAddress,
    caller: SigningCaller,
    file: Annotated[UploadFile, File(description="the PDF to sign")],
    form: Annotated[SigningRequest, Form()],
    cert: Annotated[
        str | None, Form(description="serial of your certificate (default: your only one)")
    ] = None,
    x_activation_pin: ActivationPinHeader = None,
    x_activation_otp: ActivationOtpHeader = None,
) -> FileResponse:
    """Sign the uploaded PDF with the caller's own certificate; the signed PDF is the response."""
    account = caller.signing_account
    serial = authorise_certificate(account, cert)
    proof = holder_proof(x_activation_pin, x_activation_otp)
    spool_root = settings.home / "spool"
    spool_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="sign-", dir=spool_root))
    try:
        source, digest = spool_upload(file, folder, settings.max_document_bytes)
        signed = sign_as_account(
            account, serial, source, digest, form, proof, services=services, settings=settings, client=client
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        signed.target,
        media_type="application/pdf",
        filename=f"signed-{Path(file.filename or 'document.pdf').stem}.pdf",
        headers={
            "X-Signature-Field": signed.field_name,
            "X-Signed-SHA256": signed.signed_sha256,
            "X-Repaired": "true" if signed.repaired else "false",
            **_note_headers(signed),
        },
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def _note_headers(signed: SignedDocument) -> dict[str, str]:
    """What the sender should know of a signed PDF, each header present only when there is something:
    ``X-Strict-Reader-Note`` (why a strict validator may not accept it) and ``X-Archive-Note`` (an earlier
    archive time-stamp that could not be validated here). An HTTP header carries ASCII only."""
    notes = {"X-Strict-Reader-Note": signed.strict_reader_note, "X-Archive-Note": signed.archive_note}
    return {name: note.encode("ascii", "replace").decode() for name, note in notes.items() if note}
