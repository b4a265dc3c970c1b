"""Signing one uploaded PDF with the caller's own key: the steps the API's `/sign` and the console share.

The upload is streamed to a private spool folder on disk, never held in memory, and refused past the
configured size; the holder's PIN activates the key for that one document only.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Annotated

from fastapi import Header, UploadFile

from ca.errors import InvalidRequest
from ca.status import StatusServices
from govsign.access.accounts import Account, require_pin
from govsign.access.activation import HolderProof, authorise_documents
from govsign.config.settings import Settings
from signing.appearance import AppearanceMode
from signing.errors import DocumentTooLarge
from signing.pades import SignedDocument, SigningOptions, sign_pdf
from signing.request import SigningRequest

_CHUNK = 1 << 20
ActivationPinHeader = Annotated[
    str | None, Header(description="your activation PIN; without it the request is 401 and costs no attempt")
]
ActivationOtpHeader = Annotated[
    str | None,
    Header(description="the current code of your authenticator, if you enrolled one (console sign-in)"),
]


def holder_proof(pin_header: str | None, otp_header: str | None) -> HolderProof:
    """X-Activation-PIN (required by every route that activates a signing key) and X-Activation-OTP."""
    return HolderProof(
        pin=require_pin(pin_header, how="send it in the X-Activation-PIN header"), otp=otp_header
    )


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
    account: Account,
    serial: str,
    source: Path,
    digest: str,
    form: SigningRequest,
    proof: HolderProof,
    *,
    services: StatusServices,
    settings: Settings,
    client: str,
) -> SignedDocument:
    """The holder's ``proof`` activates the key for this one document (by its digest), which is signed
    into ``signed.pdf`` beside it; shared by the API and the console. ``services`` carries the Authority
    the key lives in; ``client`` is the address the activation's audit entry names."""
    image = account_image(account, form.appearance, source.parent)
    options = signing_options(form, image, settings)
    document = bytes.fromhex(digest)
    activation = authorise_documents(services.authority, account, serial, proof, [document], client=client)
    key = activation.key_for(document)
    return sign_pdf(services, key, source, source.parent / "signed.pdf", options, actor=account.actor)


def signing_options(form: SigningRequest, image: Path | None, settings: Settings) -> SigningOptions:
    """The caller's choices within this deployment's limits (largest PDF, time per document)."""
    options = form.options(image=image, max_bytes=settings.max_document_bytes)
    return replace(options, time_limit_seconds=settings.sign_time_limit_seconds)
