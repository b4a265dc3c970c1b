"""The console's accounts page: officials' and clerks' signing accounts, managed as the API allows.

``ca_admin`` creates accounts (the API token shown once), unlocks a key after five wrong PINs, and reissues
or revokes an account's API token (as `govsign account token` does); ``ra_officer`` uploads the holder's
signature image or the agency's seal. Both see the list. Each form calls the one domain function of
:mod:`govsign.access.accounts` (or :func:`govsign.access.api_tokens.reissue_token`) the CLI and API call.
The PIN is never here: its holder sets it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from ca.errors import InvalidRequest
from govsign.access.accounts import (
    MAX_IMAGE_BYTES,
    TOKEN_PREFIX,
    Account,
    AccountKind,
    create_account,
    list_accounts,
    set_image,
    unlock,
)
from govsign.access.api_tokens import DEFAULT_DAYS, reissue_token
from govsign.access.console_auth import ConsoleUser
from govsign.http.deps import AuthorityDep
from govsign.web.console import CA_ADMINS, OFFICERS, PREFIX, VOTERS, console_text, form_of, signed_in
from govsign.web.console_display import notice, page

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(
    request: Request,
    authority: AuthorityDep,
    user: Annotated[ConsoleUser, Depends(signed_in(VOTERS))],
    q: str = "",
) -> Response:
    rows = list_accounts(authority, q)
    return page(request, "console_accounts.html", user, rows=rows, q=q, kinds=list(AccountKind))


@router.post("/accounts", response_class=HTMLResponse)
def create(
    request: Request,
    authority: AuthorityDep,
    user: Annotated[ConsoleUser, Depends(form_of(CA_ADMINS))],
    kind: Annotated[AccountKind, Form()],
    certificate_serial: Annotated[str, Form()],
) -> Response:
    created = create_account(authority, kind, certificate_serial.strip(), actor=user.actor)
    message = f"{console_text(request, 'account_created')} {created.id}: {created.holder}"
    return notice(request, user, message, back="accounts", secret=created.token)


@router.post("/accounts/{account_id}/unlock", response_class=HTMLResponse)
def unlock_account(
    request: Request,
    authority: AuthorityDep,
    account_id: int,
    user: Annotated[ConsoleUser, Depends(form_of(CA_ADMINS))],
) -> Response:
    unlock(authority, account_id, actor=user.actor)
    return notice(request, user, f"{account_id}: {console_text(request, 'unlocked')}", back="accounts")


@router.post("/accounts/{account_id}/token", response_class=HTMLResponse)
def token(
    request: Request,
    authority: AuthorityDep,
    account_id: int,
    user: Annotated[ConsoleUser, Depends(form_of(CA_ADMINS))],
    revoke: Annotated[bool, Form()] = False,
    days: Annotated[int, Form(ge=1, le=3 * 365)] = DEFAULT_DAYS,
) -> Response:
    issued = reissue_token(
        authority, Account, account_id, TOKEN_PREFIX, revoke=revoke, days=days, actor=user.actor
    )
    if issued is None:
        return notice(
            request, user, f"{account_id}: {console_text(request, 'token_revoked')}", back="accounts"
        )
    return notice(
        request, user, f"{console_text(request, 'account')} {account_id}", back="accounts", secret=issued
    )


@router.post("/accounts/{account_id}/image", response_class=HTMLResponse)
def upload_image(
    request: Request,
    authority: AuthorityDep,
    account_id: int,
    user: Annotated[ConsoleUser, Depends(form_of(OFFICERS))],
    image: Annotated[UploadFile | None, File()] = None,
) -> Response:
    if image is None:
        raise InvalidRequest("choose a PNG image")
    set_image(authority, account_id, image.file.read(MAX_IMAGE_BYTES + 1), actor=user.actor)
    return notice(request, user, f"{account_id}: {console_text(request, 'image_saved')}", back="accounts")
