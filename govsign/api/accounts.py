"""`/api/v1/accounts`: signing accounts of officials and clerks, managed by administrators.

``ca_admin`` creates accounts (bound to one certificate; the API token is in the answer, once) and
unlocks them; ``ra_officer`` uploads the holder's signature image or the agency's seal. The PIN is never
set here: its holder sets it (console or server), so no administrator knows it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, UploadFile
from pydantic import BaseModel, Field

from govsign.access.accounts import MAX_IMAGE_BYTES, AccountKind, create_account, set_image, unlock
from govsign.access.administrators import Role
from govsign.http.access import Caller, require
from govsign.http.deps import AuthorityDep

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])
AccountId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class NewAccount(BaseModel):
    kind: AccountKind = Field(description="official (an individual certificate) or clerk (an agency seal)")
    certificate_serial: str = Field(description="the certificate the account signs with, and no other")


@router.post("", status_code=201)
def create(
    authority: AuthorityDep, body: NewAccount, caller: Annotated[Caller, Depends(require(Role.CA_ADMIN))]
) -> dict[str, Any]:
    """A signing account (``ca_admin``); its API token is in this answer and nowhere else."""
    created = create_account(authority, body.kind, body.certificate_serial, actor=caller.actor)
    return {
        "account_id": created.id,
        "holder": created.holder,
        "certificate_serial": created.certificate_serial,
        "token": created.token,
    }


@router.post("/{account_id}/unlock")
def unlock_account(
    authority: AuthorityDep,
    account_id: AccountId,
    caller: Annotated[Caller, Depends(require(Role.CA_ADMIN))],
) -> dict[str, Any]:
    """Clear the lock that five wrong PINs put on an account (``ca_admin``)."""
    unlock(authority, account_id, actor=caller.actor)
    return {"account_id": account_id, "locked": False}


@router.put("/{account_id}/image")
def upload_image(
    authority: AuthorityDep,
    account_id: AccountId,
    image: Annotated[UploadFile, File(description="the signature image or seal, PNG with transparency")],
    caller: Annotated[Caller, Depends(require(Role.RA_OFFICER))],
) -> dict[str, Any]:
    """Store the holder's signature image or the agency's seal (``ra_officer``)."""
    png = image.file.read(MAX_IMAGE_BYTES + 1)  # set_image refuses one byte too many
    set_image(authority, account_id, png, actor=caller.actor)
    return {"account_id": account_id, "image_bytes": len(png)}
