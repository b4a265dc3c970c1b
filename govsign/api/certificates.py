"""`/api/v1/certificates`: revocation for registration officers, over HTTP as from the CLI.

`POST /api/v1/certificates/{serial}/revoke` takes a Decree 68 case or an RFC 5280 reason and an optional
invalidity date; the OCSP response is re-signed before the answer (every server process serves it within a
second) and the CRL follows within minutes. `GET /api/v1/certificates/{serial}` shows the status.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, Field

from ca.authority import Authority
from ca.reasons import parse_reason
from ca.revocation import find_certificate
from ca.status import StatusServices
from ca.store import CertificateRecord
from govsign.administrators import Role
from govsign.api.access import Caller, require
from govsign.controlled_actions import hold_revocation

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"])


class Revocation(BaseModel):
    reason: str = Field(description="a Decree 68 case (retired, moved-post, ...) or an RFC 5280 reason")
    invalidity_date: AwareDatetime | None = Field(
        None, description="when the key is known to have been unsafe"
    )


def _status(record: CertificateRecord) -> dict[str, Any]:
    return {
        "serial": record.serial,
        "profile": record.profile,
        "subject": record.subject,
        "status": record.status,
        "not_before": record.not_before.isoformat(),
        "not_after": record.not_after.isoformat(),
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
        "revocation_reason": record.revocation_reason,
        "invalidity_date": record.invalidity_date.isoformat() if record.invalidity_date else None,
    }


@router.post("/{serial}/revoke")
def revoke(
    request: Request,
    serial: str,
    body: Revocation,
    caller: Annotated[Caller, Depends(require(Role.RA_OFFICER))],
) -> dict[str, Any]:
    """Revoke a certificate (registration officers); refused, changing nothing, when already revoked
    unless the new reason is keyCompromise. An agency's seal certificate may wait for approvals (202)."""
    services: StatusServices = request.app.state.services()
    when = body.invalidity_date.astimezone(dt.UTC) if body.invalidity_date else None
    reason = parse_reason(body.reason)
    hold_revocation(request.app.state.authority(), serial, reason, when, actor=caller.actor)
    record = services.revoke(serial, reason, actor=caller.actor, invalidity_date=when)
    return _status(record)


@router.get("/{serial}")
def show(request: Request, serial: str, _: Annotated[Caller, Depends(require(*Role))]) -> dict[str, Any]:
    """A certificate's status (any administrator)."""
    authority: Authority = request.app.state.authority()
    with authority.database.transaction() as session:
        return _status(find_certificate(session, serial))
