"""`/api/v1/trust-anchors`: the third-party CAs the validator trusts.

Anyone may read the list (a verifier should know whom the reports rely on); only a ``ca_admin`` adds or
removes entries. The CLI's `govsign trust` does the same on the server.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, UploadFile

from ca.errors import InvalidRequest
from govsign.access.administrators import Role
from govsign.access.controlled_actions import trust, untrust
from govsign.access.trust_anchors import (
    TrustRole,
    list_trusted_certificates,
)
from govsign.access.trust_store import MAX_CERTIFICATE_BYTES, one_uploaded_certificate
from govsign.http.access import Caller, require
from govsign.http.deps import AuthorityDep

router = APIRouter(prefix="/api/v1/trust-anchors", tags=["validation"])


@router.get("")
def list_anchors(authority: AuthorityDep) -> list[dict[str, Any]]:
    """Every third-party root and intermediate the validator trusts, besides our own root."""
    return [entry.to_json() for entry in list_trusted_certificates(authority)]


@router.post("", status_code=201)
def add(
    authority: AuthorityDep,
    caller: Annotated[Caller, Depends(require(Role.CA_ADMIN))],
    certificate: Annotated[UploadFile, File(description="one certificate, PEM or DER")],
    name: Annotated[str, Form(description="the name reports show")],
    role: Annotated[TrustRole, Form(description="anchor (ends paths) or intermediate")] = TrustRole.ANCHOR,
    trusted_from: Annotated[dt.datetime | None, Form(description="trusted for signatures made from")] = None,
    trusted_until: Annotated[dt.datetime | None, Form(description="... and made before")] = None,
) -> dict[str, Any]:
    """Trust another CA's root or intermediate (``ca_admin``; may wait for approvals: 202)."""
    data = certificate.file.read(MAX_CERTIFICATE_BYTES + 1)
    parsed = one_uploaded_certificate(data, certificate.filename or "the upload")
    start, end = _aware(trusted_from), _aware(trusted_until)
    entry = trust(
        authority, parsed, name=name, role=role, trusted_from=start, trusted_until=end, actor=caller.actor
    )
    return entry.to_json()


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise InvalidRequest(f"{moment.isoformat()} has no time zone; add +07:00 or Z")
    return moment.astimezone(dt.UTC) if moment else None


@router.delete("/{entry_id}")
def remove(
    authority: AuthorityDep,
    entry_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="id from the list")],
    caller: Annotated[Caller, Depends(require(Role.CA_ADMIN))],
) -> dict[str, Any]:
    """Stop trusting a certificate (``ca_admin``; may wait for approvals: 202)."""
    return untrust(authority, entry_id, actor=caller.actor).to_json()
