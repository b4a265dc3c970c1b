"""`POST /api/v1/sign`: an official or agency clerk signs one PDF with their own key in the HSM.

The caller presents their API token (``Authorization: Bearer``) and, for this one request, their
activation PIN (``X-Activation-PIN``). The upload is streamed to a private spool folder on disk, never
held in memory, and refused with 413 past the configured size; the signed PDF comes back as the
response body and the spool is emptied whatever happens. The route is synchronous: FastAPI runs it in a
worker thread, where the HSM, the database and pyHanko may block.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from ca.authority import Authority
from ca.errors import InvalidRequest
from ca.status import StatusServices
from govsign.access.accounts import Account, authorise_certificate, authorise_documents, require_pin
from govsign.api.access import SigningCaller
from govsign.config.settings import Settings
from govsign.signing_request import SigningRequest
from signing.appearance import AppearanceMode
from signing.errors import DocumentTooLarge
from signing.pades import SignedDocument, sign_pdf

router = APIRouter(prefix="/api/v1", tags=["signing"])
_CHUNK = 1 << 20
ActivationPinHeader = Annotated[
    str | None, Header(description="your activation PIN; without it the request is 401 and costs no attempt")
]


def activation_pin(header: str | None) -> str:
    """The X-Activation-PIN header, required by every route that activates a signing key."""
    return require_pin(header, how="send it in the X-Activation-PIN header")


def spool_upload(upload: UploadFile, folder: Path, limit: int, name: str = "input.pdf") -> tuple[Path, str]:
    """Copy the upload to ``folder`` in chunks; its SHA-256 comes back for the activation's audit entry."""
    target = folder / name
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as stream:
        while chunk := upload.file.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise DocumentTooLarge(
                    f"the PDF is larger than the {limit // 2**20} MiB this service accepts"
                )
            digest.update(chunk)
            stream.write(chunk)
    return target, digest.hexdigest()


def account_image(account: Account, mode: AppearanceMode, folder: Path) -> Path | None:
    """The account's stored signature image or seal, for the modes that show one."""
    if mode not in (AppearanceMode.APPROVAL, AppearanceMode.ISSUE):
        return None
    if account.image_png is None:
        raise InvalidRequest(
            f"appearance '{mode}' shows the holder's image, and none is stored for this account; "
            "an administrator uploads it with `govsign account set-image`"
        )
    path = folder / "image.png"
    path.write_bytes(account.image_png)
    return path


def sign_as_account(
    request: Request,
    account: Account,
    serial: str,
    source: Path,
    digest: str,
    form: SigningRequest,
    pin: str,
) -> SignedDocument:
    """The holder's ``pin`` activates the key for this one document (by its digest), which is signed into
    ``signed.pdf`` beside it; shared by the API and the console."""
    authority: Authority = request.app.state.authority()
    settings: Settings = request.app.state.settings
    image = account_image(account, form.appearance, source.parent)
    options = form.options(image=image, max_bytes=settings.max_document_bytes)
    services: StatusServices = request.app.state.services()
    document = bytes.fromhex(digest)
    client = request.client.host if request.client else "unknown"
    key = authorise_documents(authority, account, serial, pin, [document], client=client).key_for(document)
    return sign_pdf(services, key, source, source.parent / "signed.pdf", options, actor=account.actor)


@router.post(
    "/sign",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}}, "description": "the signed PDF"}},
)
def sign_document(
    request: Request,
    caller: SigningCaller,
    file: Annotated[UploadFile, File(description="the PDF to sign")],
    form: Annotated[SigningRequest, Form()],
    cert: Annotated[
        str | None, Form(description="serial of your certificate (default: your only one)")
    ] = None,
    x_activation_pin: ActivationPinHeader = None,
) -> FileResponse:
    """Sign the uploaded PDF with the caller's own certificate; the signed PDF is the response."""
    settings: Settings = request.app.state.settings
    account = caller.signing_account
    serial = authorise_certificate(account, cert)
    pin = activation_pin(x_activation_pin)
    spool_root = settings.home / "spool"
    spool_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = Path(tempfile.mkdtemp(prefix="sign-", dir=spool_root))
    try:
        source, digest = spool_upload(file, folder, settings.max_document_bytes)
        signed = sign_as_account(request, account, serial, source, digest, form, pin)
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
        },
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
