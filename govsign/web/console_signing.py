"""The console's pages for officials and agency clerks: the PIN, one PDF signed with a preview, batches."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from PIL import Image
from starlette.background import BackgroundTask

from ca.activation import ActivationError
from ca.authority import Authority
from ca.errors import InvalidRequest
from govsign.access.accounts import (
    Account,
    authorise_certificate,
    change_pin,
    require_pin,
)
from govsign.access.activation import HolderProof
from govsign.access.console_auth import ConsoleUser
from govsign.access.errors import NotAuthenticated, NotAuthorised
from govsign.config.settings import Settings
from govsign.errors import http_status
from govsign.http.batches import owned_batch, start_batch
from govsign.http.deps import AuthorityDep, ClientAddress, ServicesDep, SettingsDep
from govsign.http.signing import sign_as_account, spool_upload
from govsign.web.console import (
    PREFIX,
    SIGNERS,
    console_text,
    form_of,
    language,
    message_page,
    render,
    signed_in,
)
from govsign.web.presentation import attachment, error_text
from signing.batch_store import batch_report, recorded_output
from signing.documents import file_sha256
from signing.errors import DocumentRefused, InvalidDocument, SigningError
from signing.fields import read_fields
from signing.request import SigningRequest

router = APIRouter(prefix=PREFIX, include_in_schema=False)
# refusals after which the signer corrects the PIN, the box or the field on the same preview
_TRY_AGAIN = (ActivationError, NotAuthenticated, InvalidRequest, InvalidDocument, DocumentRefused)
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


# -- officials and clerks -------------------------------------------------------------------------------


def _uploads(settings: Settings) -> Path:
    folder = settings.home / "console-uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _own_upload(settings: Settings, user: ConsoleUser, upload_id: str) -> Path:
    """The folder of an upload this user made (its name is random; the owner file must be theirs)."""
    folder = _uploads(settings) / upload_id
    owner = folder / "owner"
    if not _UPLOAD_ID.fullmatch(upload_id) or not owner.is_file() or owner.read_text() != user.actor:
        raise NotAuthorised("no such upload of yours")
    return folder


def _account_of(authority: Authority, user: ConsoleUser) -> Account:
    with authority.database.transaction() as session:
        account = session.get(Account, user.subject_id)
        assert account is not None
        session.expunge(account)
        return account


def _form(appearance: str, extra: dict[str, str], **more: Any) -> SigningRequest:
    chosen = {key: value for key, value in extra.items() if value}
    return SigningRequest.of({"appearance": appearance, "level": "B-LT", **chosen, **more})


def _proof(request: Request, pin: str | None) -> HolderProof:
    """The PIN typed on the page; the console's session was opened with the holder's TOTP already."""
    return HolderProof(
        require_pin(pin, how=console_text(request, "pin_needed")), signed_in_with_second_factor=True
    )


@router.get("/pin", response_class=HTMLResponse)
def pin_form(request: Request, user: Annotated[ConsoleUser, Depends(signed_in(SIGNERS))]) -> Response:
    return render(request, "console_pin.html", user=user)


@router.post("/pin", response_class=HTMLResponse)
def pin_change(
    request: Request,
    authority: AuthorityDep,
    client: ClientAddress,
    user: Annotated[ConsoleUser, Depends(form_of(SIGNERS))],
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    again: Annotated[str, Form()] = "",
) -> Response:
    """The holder chooses their PIN: the first time with the set-up code from registration, later with
    the current PIN (both in the one field ``current``)."""
    if new != again:
        raise InvalidRequest(console_text(request, "pin_mismatch"))
    given = require_pin(current, how=console_text(request, "pin_needed"))
    change_pin(authority, user.subject_id, given, new, client=client)
    return message_page(request, user, console_text(request, "pin_set"))


@router.post("/sign/preview", response_class=HTMLResponse)
def preview(
    request: Request,
    authority: AuthorityDep,
    settings: SettingsDep,
    client: ClientAddress,
    user: Annotated[ConsoleUser, Depends(form_of(SIGNERS))],
    files: Annotated[list[UploadFile] | None, File()] = None,
    appearance: Annotated[str, Form()] = "approval",
    doc_number: Annotated[str, Form()] = "",
    agency: Annotated[str, Form()] = "",
    copy_form: Annotated[str, Form()] = "SAO Y",
    pin: Annotated[str | None, Form()] = None,
) -> Response:
    """One PDF: page 1 to place the signature on. Several: a batch at once, signed where each document's
    appearance goes by default, activated by the PIN given with them."""
    extra = {"doc_number": doc_number, "agency": agency, "copy_form": copy_form}
    if not files:
        raise SigningError(console_text(request, "no_file"))
    if len(files) > 1:
        account = _account_of(authority, user)
        serial = authorise_certificate(account, None)
        proof = _proof(request, pin)
        form = _form(appearance, extra)
        batch_id, _ = start_batch(
            account, serial, files, form, proof, authority=authority, settings=settings, client=client
        )
        return RedirectResponse(f"{PREFIX}/batches/{batch_id}?lang={language(request)}", status_code=303)
    folder = _uploads(settings) / secrets.token_hex(16)
    folder.mkdir(mode=0o700)
    try:
        (folder / "owner").write_text(user.actor)
        (folder / "name").write_text(Path(files[0].filename or "").name or "document.pdf")
        spool_upload(files[0], folder, settings.max_document_bytes, "input.pdf")
        _render_first_page(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return _preview_page(request, user, folder, _Placement(appearance, extra))


@dataclass(frozen=True)
class _Placement:
    """What the signer chose for the upload so far: kept when a wrong PIN sends the preview back."""

    appearance: str
    extra: dict[str, str]
    box: str = ""
    field: str = ""


def _preview_page(
    request: Request,
    user: ConsoleUser,
    folder: Path,
    placement: _Placement,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """Page 1 of the upload to place the signature on; after a refused PIN the same page again, the box
    where it was drawn and the field chosen, with the refusal: nothing to upload or drag again."""
    with Image.open(folder / "page-1.png") as image:
        width, height = float(image.width), float(image.height)
    return render(
        request,
        "console_preview.html",
        user=user,
        upload_id=folder.name,
        digest=file_sha256(folder / "input.pdf"),
        width=width,
        height=height,
        placement=placement,
        filename=(folder / "name").read_text(),
        empty_fields=read_fields(folder / "input.pdf", password=None).empty,
        error=error,
        status=status,
    )


def _render_first_page(folder: Path) -> None:
    """page-1.png at 72 dpi (one pixel per point, so the dragged box is in points)."""
    command = ["pdftoppm", "-png", "-r", "72", "-f", "1", "-l", "1", "-singlefile"]
    try:
        result = subprocess.run(
            [*command, str(folder / "input.pdf"), str(folder / "page-1")], capture_output=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        raise SigningError("the PDF's first page takes too long to draw; sign it through the API") from None
    if result.returncode != 0:
        raise SigningError("the PDF's first page cannot be shown; is it a PDF?")


@router.get("/sign/{upload_id}/page-1.png")
def page_image(
    settings: SettingsDep, upload_id: str, user: Annotated[ConsoleUser, Depends(signed_in(SIGNERS))]
) -> Response:
    return FileResponse(_own_upload(settings, user, upload_id) / "page-1.png", media_type="image/png")


@router.post("/sign/{upload_id}")
def sign(
    request: Request,
    services: ServicesDep,
    settings: SettingsDep,
    client: ClientAddress,
    upload_id: str,
    user: Annotated[ConsoleUser, Depends(form_of(SIGNERS))],
    appearance: Annotated[str, Form()] = "approval",
    box: Annotated[str | None, Form()] = None,
    doc_number: Annotated[str, Form()] = "",
    agency: Annotated[str, Form()] = "",
    copy_form: Annotated[str, Form()] = "SAO Y",
    field: Annotated[str, Form()] = "",
    pin: Annotated[str | None, Form()] = None,
) -> Response:
    """Sign the upload in the prepared field chosen, else in the box dragged on page 1 (or its default).
    A wrong or missing PIN, a locked key or a box that does not fit: the preview again, as it was left."""
    folder = _own_upload(settings, user, upload_id)
    account = _account_of(services.authority, user)
    extra = {"doc_number": doc_number, "agency": agency, "copy_form": copy_form}
    placement = _Placement(appearance, extra, box or "", field)
    source = folder / "input.pdf"
    serial = authorise_certificate(account, None)
    try:
        where = {"field": field} if field else {"box": box or None, "page": 1}
        form, proof = _form(appearance, extra, **where), _proof(request, pin)
        digest = file_sha256(source)
        signed = sign_as_account(
            account, serial, source, digest, form, proof, services=services, settings=settings, client=client
        )
    except _TRY_AGAIN as error:
        text = error_text(error, language(request))
        return _preview_page(request, user, folder, placement, error=text, status=http_status(error))
    return FileResponse(
        signed.target,
        media_type="application/pdf",
        headers={"Content-Disposition": attachment((folder / "name").read_text())},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_progress(
    request: Request,
    authority: AuthorityDep,
    batch_id: str,
    user: Annotated[ConsoleUser, Depends(signed_in(SIGNERS))],
) -> Response:
    """Progress of a batch, refreshed every two seconds until it is finished; links to the signed files."""
    database = authority.database
    owned_batch(database, _account_of(authority, user), batch_id)
    return render(request, "console_batch.html", user=user, report=batch_report(database, batch_id))


@router.get("/batches/{batch_id}/documents/{name}")
def batch_document(
    request: Request,
    authority: AuthorityDep,
    batch_id: str,
    name: str,
    user: Annotated[ConsoleUser, Depends(signed_in(SIGNERS))],
) -> Response:
    owned_batch(authority.database, _account_of(authority, user), batch_id)
    path = recorded_output(authority.database, batch_id, name)
    if path is None or not path.is_file():
        return message_page(request, user, f"{name}: {console_text(request, 'not_signed_yet')}", status=404)
    return FileResponse(path, media_type="application/pdf", headers={"Content-Disposition": attachment(name)})
