"""`/console`: the web console for administrators, officials and agency clerks.

Server-rendered (Jinja2) with one small script (`/static/console.js`: live checks on the issue form, the
box dragged over a page preview). Sign-in is a password and a TOTP code (:mod:`govsign.access.console_auth`);
the session cookie is HttpOnly and SameSite=Strict, every form carries the session's CSRF token, and
each page declares the roles it admits (:func:`signed_in`, :func:`form_of`). Errors are answered by
:func:`error_page`, which the application calls for every domain error under /console.

Administrators search, issue and revoke certificates and vote on approvals; officials and clerks upload
a PDF, see page 1, drag the signature's box, enter their PIN and download the signed document (or sign
several at once as a batch). The pages are not part of /openapi.json.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from PIL import Image
from sqlalchemy import or_, select
from starlette.background import BackgroundTask

from ca.authority import Authority
from ca.errors import InvalidRequest, NotFound
from ca.hsm import KeyAlgorithm
from ca.profiles import CertificateKind
from ca.rate_limit import RateLimiter
from ca.reasons import reason_for_certificate
from ca.status import StatusServices
from ca.store import CertificateRecord
from govsign.access import controlled_actions
from govsign.access.accounts import (
    Account,
    AccountKind,
    authorise_certificate,
    change_pin,
    require_pin,
)
from govsign.access.administrators import Role
from govsign.access.approvals import ACTIONS, APPROVERS, decide, list_requests, view
from govsign.access.console_auth import ConsoleUser, sign_in, sign_out, user_for_session
from govsign.access.errors import NotAuthenticated, NotAuthorised, PendingApproval
from govsign.api.batches import owned_batch, start_batch
from govsign.api.signing import sign_as_account, spool_upload
from govsign.config import runtime
from govsign.config.settings import Settings
from govsign.errors import DOMAIN_ERRORS, http_status
from govsign.signing_request import SigningRequest
from govsign.web.texts import CONSOLE_TEXTS
from signing.batch import batch_report
from signing.documents import file_sha256
from signing.errors import SigningError

PREFIX = "/console"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
COOKIE = "govsign_console"
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
Grants = frozenset[Role | AccountKind]
ADMINISTRATORS: Grants = frozenset(Role)
SIGNERS: Grants = frozenset(AccountKind)
OFFICERS: Grants = frozenset({Role.RA_OFFICER})
VOTERS: Grants = frozenset({Role.RA_OFFICER, Role.CA_ADMIN})
_login_attempts = RateLimiter(rate=0.2, burst=20)  # per client address: guessing stays slow
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_FIELDS = {
    CertificateKind.INDIVIDUAL: ("full_name", "personal_id", "email", "organisation", "unit", "province"),
    CertificateKind.ORGANISATION: ("name", "tax_code", "budget_code", "province", "email"),
    CertificateKind.DEVICE: ("name", "version", "organisation", "province"),
}


def _language(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "vi"


def _page(
    request: Request, template: str, *, user: ConsoleUser | None = None, status: int = 200, **values: Any
) -> HTMLResponse:
    lang = _language(request)
    html = _templates.get_template(template).render(lang=lang, t=CONSOLE_TEXTS[lang], user=user, **values)
    return HTMLResponse(html, status_code=status)


def _text(request: Request, key: str) -> str:
    return CONSOLE_TEXTS[_language(request)][key]


def signed_in(allowed: Grants) -> Callable[..., ConsoleUser]:
    """A dependency: the signed-in user, if their role or account kind is one of ``allowed``."""

    def dependency(request: Request) -> ConsoleUser:
        user = user_for_session(request.app.state.authority(), request.cookies.get(COOKIE))
        if user.grant not in allowed:
            raise NotAuthorised("this page is not for your role")
        return user

    return dependency


def form_of(allowed: Grants) -> Callable[..., ConsoleUser]:
    """A dependency for form posts: :func:`signed_in`, and the form's CSRF token is the session's."""
    check = signed_in(allowed)

    def dependency(request: Request, csrf: Annotated[str | None, Form()] = None) -> ConsoleUser:
        user = check(request)
        if not csrf or not secrets.compare_digest(csrf.encode(), user.csrf.encode()):
            raise NotAuthorised("the form is stale or came from elsewhere (CSRF token); reload the page")
        return user

    return dependency


def error_page(request: Request, error: Exception) -> Response:
    """Not signed in: to the sign-in page; anything else (a held action too): the message, with its status."""
    if isinstance(error, NotAuthenticated):
        return RedirectResponse(f"{PREFIX}/login?lang={_language(request)}", status_code=303)
    message = str(error)
    if isinstance(error, PendingApproval) and error.setup_code is not None:
        message += f". {_text(request, 'setup_code')}: {error.setup_code}"
    return _page(request, "console_message.html", message=message, status=http_status(error))


def _message(request: Request, user: ConsoleUser, message: str, status: int = 200) -> HTMLResponse:
    return _page(request, "console_message.html", user=user, message=message, status=status)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- signing in and out ---------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _page(request, "console_login.html")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    if not _login_attempts.allow(_client(request)):
        return _page(request, "console_login.html", error=_text(request, "slow_down"), status=429)
    try:
        token, _ = sign_in(
            request.app.state.authority(), username, password, code.strip(), client=_client(request)
        )
    except DOMAIN_ERRORS as error:
        return _page(request, "console_login.html", error=str(error), status=http_status(error))
    response = RedirectResponse(f"{PREFIX}?lang={_language(request)}", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path=PREFIX)
    return response


def _secure(request: Request) -> bool:
    """Secure cookies when the service is published over https (behind a TLS proxy too) or reached so."""
    settings: Settings = request.app.state.settings
    return settings.public_url.startswith("https:") or request.url.scheme == "https"


@router.post("/logout")
def logout(
    request: Request, _: Annotated[ConsoleUser, Depends(form_of(ADMINISTRATORS | SIGNERS))]
) -> Response:
    sign_out(request.app.state.authority(), request.cookies.get(COOKIE), client=_client(request))
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get("", response_class=HTMLResponse)
def home(
    request: Request, user: Annotated[ConsoleUser, Depends(signed_in(ADMINISTRATORS | SIGNERS))]
) -> Response:
    if user.account_kind is not None:
        return _page(request, "console_sign.html", user=user)
    return certificates(request, user)


# -- administrators -------------------------------------------------------------------------------------


@router.get("/certificates", response_class=HTMLResponse)
def certificates(
    request: Request, user: Annotated[ConsoleUser, Depends(signed_in(ADMINISTRATORS))], q: str = ""
) -> Response:
    authority: Authority = request.app.state.authority()
    query = select(CertificateRecord).order_by(CertificateRecord.id.desc()).limit(50)
    if q.strip():
        pattern = f"%{q.strip()}%"
        query = query.where(
            or_(CertificateRecord.subject.ilike(pattern), CertificateRecord.serial.ilike(pattern))
        )
    with authority.database.transaction() as session:
        rows = [
            {
                "serial": r.serial,
                "subject": r.subject,
                "profile": r.profile,
                "status": r.status,
                "not_after": r.not_after,
            }
            for r in session.execute(query).scalars()
        ]
    pending = len(list_requests(authority))
    return _page(request, "console_certificates.html", user=user, rows=rows, q=q, pending=pending)


@router.get("/issue", response_class=HTMLResponse)
def issue_form(request: Request, user: Annotated[ConsoleUser, Depends(signed_in(OFFICERS))]) -> Response:
    return _page(request, "console_issue.html", user=user, fields=_FIELDS)


@router.post("/issue", response_class=HTMLResponse)
async def issue(request: Request, user: Annotated[ConsoleUser, Depends(form_of(OFFICERS))]) -> Response:
    values = {key: value.strip() for key, value in (await request.form()).items() if isinstance(value, str)}
    # the HSM, the database and pkilint block: off the event loop, which also serves OCSP
    message = await run_in_threadpool(_issue, request, user, values)
    return _message(request, user, message)


def _issue(request: Request, user: ConsoleUser, values: dict[str, str]) -> str:
    try:
        kind = CertificateKind(values.get("profile", ""))
    except ValueError:
        raise InvalidRequest("choose a profile: individual, organisation or device") from None
    data = {
        name: values[name]
        for name in (*_FIELDS[kind], "requesting_agency", "request_ref")
        if values.get(name)
    }
    key_type = KeyAlgorithm.EC_P256 if kind is CertificateKind.INDIVIDUAL else KeyAlgorithm.RSA2048
    issued = controlled_actions.issue(
        request.app.state.authority(), kind.value, data, csr=None, key_type=key_type, actor=user.actor
    )
    message = (
        f"{_text(request, 'issued')}: {issued.serial_hex} — {issued.certificate.subject.rfc4514_string()}"
    )
    if issued.setup_code is not None:
        message += f". {_text(request, 'setup_code')}: {issued.setup_code}"
    return message


@router.post("/certificates/{serial}/revoke", response_class=HTMLResponse)
def revoke(
    request: Request,
    serial: str,
    user: Annotated[ConsoleUser, Depends(form_of(OFFICERS))],
    reason: Annotated[str, Form()] = "",
) -> Response:
    services: StatusServices = request.app.state.services()
    why = reason_for_certificate(services.authority, serial, reason)
    record = controlled_actions.revoke(
        services.authority, serial, why, None, actor=user.actor, responder=services.ocsp
    )
    return _message(request, user, f"{record.serial}: {record.status}")


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, user: Annotated[ConsoleUser, Depends(signed_in(ADMINISTRATORS))]) -> Response:
    items = list_requests(request.app.state.authority())
    return _page(request, "console_approvals.html", user=user, items=items, actions=ACTIONS)


@router.post("/approvals/{approval_id}/{decision}", response_class=HTMLResponse)
def vote(
    request: Request, approval_id: str, decision: str, user: Annotated[ConsoleUser, Depends(form_of(VOTERS))]
) -> Response:
    if decision not in ("approve", "reject"):
        raise NotFound(f"no such decision {decision!r}: approve or reject")
    authority: Authority = request.app.state.authority()
    if user.role not in APPROVERS[view(authority, approval_id).action]:
        raise NotAuthorised("your role does not vote on this action")
    approve = decision == "approve"
    executors = runtime.approval_executors(request.app.state.settings)
    outcome = decide(authority, approval_id, approver=user.actor, approve=approve, executors=executors)
    return _message(
        request,
        user,
        f"{outcome.summary}: {outcome.state}" + (f" — {outcome.outcome}" if outcome.outcome else ""),
    )


# -- officials and clerks -------------------------------------------------------------------------------


def _uploads(settings: Settings) -> Path:
    folder = settings.home / "console-uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _own_upload(request: Request, user: ConsoleUser, upload_id: str) -> Path:
    """The folder of an upload this user made (its name is random; the owner file must be theirs)."""
    folder = _uploads(request.app.state.settings) / upload_id
    owner = folder / "owner"
    if not _UPLOAD_ID.fullmatch(upload_id) or not owner.is_file() or owner.read_text() != user.actor:
        raise NotAuthorised("no such upload of yours")
    return folder


def _account_of(request: Request, user: ConsoleUser) -> Account:
    authority: Authority = request.app.state.authority()
    with authority.database.transaction() as session:
        account = session.get(Account, user.subject_id)
        assert account is not None
        session.expunge(account)
        return account


def _form(appearance: str, extra: dict[str, str], **more: Any) -> SigningRequest:
    chosen = {key: value for key, value in extra.items() if value}
    return SigningRequest.of({"appearance": appearance, "level": "B-LT", **chosen, **more})


@router.get("/pin", response_class=HTMLResponse)
def pin_form(request: Request, user: Annotated[ConsoleUser, Depends(signed_in(SIGNERS))]) -> Response:
    return _page(request, "console_pin.html", user=user)


@router.post("/pin", response_class=HTMLResponse)
def pin_change(
    request: Request,
    user: Annotated[ConsoleUser, Depends(form_of(SIGNERS))],
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    again: Annotated[str, Form()] = "",
) -> Response:
    """The holder chooses their PIN: the first time with the set-up code from registration, later with
    the current PIN (both in the one field ``current``)."""
    if new != again:
        raise InvalidRequest(_text(request, "pin_mismatch"))
    given = require_pin(current, how=_text(request, "pin_needed"))
    change_pin(request.app.state.authority(), user.subject_id, given, new, client=_client(request))
    return _message(request, user, _text(request, "pin_set"))


@router.post("/sign/preview", response_class=HTMLResponse)
def preview(
    request: Request,
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
        raise SigningError(_text(request, "no_file"))
    if len(files) > 1:
        account = _account_of(request, user)
        serial = authorise_certificate(account, None)
        pin_given = require_pin(pin, how=_text(request, "pin_needed"))
        batch_id, _ = start_batch(request, account, serial, files, _form(appearance, extra), pin_given)
        return RedirectResponse(f"{PREFIX}/batches/{batch_id}?lang={_language(request)}", status_code=303)
    settings: Settings = request.app.state.settings
    folder = _uploads(settings) / secrets.token_hex(16)
    folder.mkdir(mode=0o700)
    try:
        (folder / "owner").write_text(user.actor)
        _, digest = spool_upload(files[0], folder, settings.max_document_bytes, "input.pdf")
        width, height = _render_first_page(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return _page(
        request,
        "console_preview.html",
        user=user,
        upload_id=folder.name,
        digest=digest,
        width=width,
        height=height,
        appearance=appearance,
        extra=extra,
        filename=files[0].filename or "document.pdf",
    )


def _render_first_page(folder: Path) -> tuple[float, float]:
    """page-1.png at 72 dpi (one pixel per point, so the dragged box is in points); the page's size."""
    command = ["pdftoppm", "-png", "-r", "72", "-f", "1", "-l", "1", "-singlefile"]
    try:
        result = subprocess.run(
            [*command, str(folder / "input.pdf"), str(folder / "page-1")], capture_output=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        raise SigningError("the PDF's first page takes too long to draw; sign it through the API") from None
    if result.returncode != 0:
        raise SigningError("the PDF's first page cannot be shown; is it a PDF?")
    with Image.open(folder / "page-1.png") as image:
        return float(image.width), float(image.height)


@router.get("/sign/{upload_id}/page-1.png")
def page_image(
    request: Request, upload_id: str, user: Annotated[ConsoleUser, Depends(signed_in(SIGNERS))]
) -> Response:
    return FileResponse(_own_upload(request, user, upload_id) / "page-1.png", media_type="image/png")


@router.post("/sign/{upload_id}")
def sign(
    request: Request,
    upload_id: str,
    user: Annotated[ConsoleUser, Depends(form_of(SIGNERS))],
    appearance: Annotated[str, Form()] = "approval",
    box: Annotated[str | None, Form()] = None,
    doc_number: Annotated[str, Form()] = "",
    agency: Annotated[str, Form()] = "",
    copy_form: Annotated[str, Form()] = "SAO Y",
    pin: Annotated[str | None, Form()] = None,
) -> Response:
    folder = _own_upload(request, user, upload_id)
    account = _account_of(request, user)
    extra = {"doc_number": doc_number, "agency": agency, "copy_form": copy_form}
    form = _form(appearance, extra, box=box or None, page=1)
    source = folder / "input.pdf"
    serial = authorise_certificate(account, None)
    pin_given = require_pin(pin, how=_text(request, "pin_needed"))
    signed = sign_as_account(request, account, serial, source, file_sha256(source), form, pin_given)
    return FileResponse(
        signed.target,
        media_type="application/pdf",
        filename="da-ky.pdf",
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_progress(
    request: Request, batch_id: str, user: Annotated[ConsoleUser, Depends(signed_in(SIGNERS))]
) -> Response:
    """Progress of a batch, refreshed every two seconds until it is finished; links to the signed files."""
    database = request.app.state.authority().database
    owned_batch(database, _account_of(request, user), batch_id)
    return _page(request, "console_batch.html", user=user, report=batch_report(database, batch_id))


@router.get("/batches/{batch_id}/documents/{name}")
def batch_document(
    request: Request, batch_id: str, name: str, user: Annotated[ConsoleUser, Depends(signed_in(SIGNERS))]
) -> Response:
    batch = owned_batch(request.app.state.authority().database, _account_of(request, user), batch_id)
    path = Path(batch.target_dir) / Path(name).name
    if not path.is_file():
        return _message(request, user, f"{name}: not signed (yet)", status=404)
    return FileResponse(path, media_type="application/pdf", filename=path.name)
