"""`/api/v1/batches`: sign many PDFs with one activation, in the background, and fetch them when done.

The batch itself (spooling, the one activation, the background run and its retention) is
:mod:`govsign.http.batches`, shared with the console.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from ca.errors import NotFound
from govsign.access.accounts import authorise_certificate
from govsign.config.settings import Settings
from govsign.http.access import SigningCaller
from govsign.http.batches import EXPIRED, owned_batch, start_batch
from govsign.http.deps import AuthorityDep, ClientAddress, SettingsDep
from govsign.http.signing import ActivationOtpHeader, ActivationPinHeader, holder_proof
from signing.batch_store import batch_report, recorded_output
from signing.request import SigningRequest

router = APIRouter(prefix="/api/v1/batches", tags=["signing"])


@router.post("", status_code=202)
def create(
    authority: AuthorityDep,
    settings: SettingsDep,
    client: ClientAddress,
    caller: SigningCaller,
    files: Annotated[list[UploadFile], File(description="the PDFs to sign")],
    form: Annotated[SigningRequest, Form()],
    cert: Annotated[
        str | None, Form(description="serial of your certificate (default: your only one)")
    ] = None,
    x_activation_pin: ActivationPinHeader = None,
    x_activation_otp: ActivationOtpHeader = None,
) -> JSONResponse:
    """Start signing the uploaded PDFs with the caller's own certificate; answers 202 with the batch id."""
    account = caller.signing_account
    serial = authorise_certificate(account, cert)
    proof = holder_proof(x_activation_pin, x_activation_otp)
    batch_id, count = start_batch(
        account, serial, files, form, proof, authority=authority, settings=settings, client=client
    )
    return JSONResponse(
        {"batch_id": batch_id, "documents": count, "status_url": f"/api/v1/batches/{batch_id}"},
        status_code=202,
    )


@router.get("/{batch_id}")
def status(
    authority: AuthorityDep, settings: SettingsDep, batch_id: str, caller: SigningCaller
) -> dict[str, Any]:
    """Progress and per-document outcome of one of the caller's batches."""
    owned_batch(authority.database, caller.signing_account, batch_id)
    report = batch_report(authority.database, batch_id)
    expired = {"detail": _expired_text(settings, batch_id)} if report.state == EXPIRED else {}
    return {
        "batch_id": report.batch_id,
        "state": report.state,
        **expired,
        "total": report.total,
        "done": report.done,
        "failed": report.failed,
        "documents": report.items,
    }


def _expired_text(settings: Settings, batch_id: str) -> str:
    return (
        f"batch {batch_id} has expired: its documents were deleted {settings.batch_retention_days:g} days "
        "after it finished (GOVSIGN_BATCH_RETENTION_DAYS); sign them again if you still need them"
    )


@router.get("/{batch_id}/documents/{name}", response_class=FileResponse)
def document(
    authority: AuthorityDep, settings: SettingsDep, batch_id: str, name: str, caller: SigningCaller
) -> FileResponse:
    """One signed document of the caller's batch."""
    batch = owned_batch(authority.database, caller.signing_account, batch_id)
    if batch.state == EXPIRED:
        raise NotFound(_expired_text(settings, batch_id))
    path = recorded_output(authority.database, batch_id, name)
    if path is None or not path.is_file():
        raise NotFound(f"{name} is not signed (yet) in batch {batch_id}")
    return FileResponse(path, media_type="application/pdf", filename=path.name)
