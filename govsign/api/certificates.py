"""`/api/v1/certificates`: issuance, renewal and revocation for registration officers, as from the CLI.

`POST /api/v1/certificates` issues from the same request JSON as `govsign ca issue --subject` (with a
PKCS#10 request, or a key made in the HSM); agency seals and devices may wait for approvals (202).
`POST /api/v1/certificates/{serial}/renew` renews for the same key.

`POST /api/v1/certificates/{serial}/revoke` takes a Decree 68 case or an RFC 5280 reason and an optional
invalidity date; the OCSP response is re-signed before the answer (every server process serves it within a
second) and the CRL follows within minutes. `GET /api/v1/certificates/{serial}` shows the status.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from ca.hsm import KeyAlgorithm
from ca.issuance import IssuedCertificate
from ca.reasons import reason_for_certificate
from ca.revocation import find_certificate
from ca.store import CertificateRecord
from govsign.access import controlled_actions
from govsign.access.administrators import Role
from govsign.access.holder_certificates import renew_holder_certificate
from govsign.http.access import Caller, require
from govsign.http.deps import AuthorityDep, ServicesDep

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"])


class SubscriberProfile(StrEnum):
    """The profiles an RA officer issues (the CA's own service certificates come from the ceremony)."""

    INDIVIDUAL = "individual"
    ORGANISATION = "organisation"
    DEVICE = "device"


class Issuance(BaseModel):
    profile: SubscriberProfile = Field(description="individual, organisation or device")
    subject: dict[str, Any] = Field(description="the request, as in `govsign ca issue --subject FILE.json`")
    csr_pem: str | None = Field(
        None, description="a PKCS#10 request (PEM); without it the key is made in the HSM"
    )
    key_type: KeyAlgorithm = Field(KeyAlgorithm.RSA2048, description="key type for a key made in the HSM")


class Issued(BaseModel):
    serial: str
    subject: str
    not_before: str
    not_after: str
    certificate_pem: str
    lint_findings: list[str]
    setup_code: str | None = Field(
        default=None,
        description="for a key made here: the holder's one-time set-up code (shown once, never stored); "
        "the holder chooses their PIN with it, and nobody else can",
    )


def _issued(issued: IssuedCertificate) -> Issued:
    certificate = issued.certificate
    return Issued(
        serial=issued.serial_hex,
        subject=certificate.subject.rfc4514_string(),
        not_before=certificate.not_valid_before_utc.isoformat(),
        not_after=certificate.not_valid_after_utc.isoformat(),
        certificate_pem=certificate.public_bytes(Encoding.PEM).decode("ascii"),
        lint_findings=[str(finding) for finding in issued.findings],
        setup_code=issued.setup_code,
    )


@router.post("", status_code=201)
def issue(
    authority: AuthorityDep, body: Issuance, caller: Annotated[Caller, Depends(require(Role.RA_OFFICER))]
) -> Issued:
    """Issue through the linted pipeline (``ra_officer``); seals and devices may wait for approvals (202)."""
    csr = body.csr_pem.encode("utf-8") if body.csr_pem else None
    issued = controlled_actions.issue(
        authority,
        body.profile.value,
        body.subject,
        csr=csr,
        key_type=body.key_type,
        actor=caller.actor,
    )
    return _issued(issued)


@router.post("/{serial}/renew", status_code=201)
def renew(
    authority: AuthorityDep,
    serial: str,
    caller: Annotated[Caller, Depends(require(Role.RA_OFFICER))],
    years: Annotated[int, Query(ge=1, le=3, description="years added to the old notAfter")] = 3,
) -> Issued:
    """A new certificate for the same key and subject (``ra_officer``); the old one stays valid, and the
    holder's signing accounts sign with the new one from now on."""
    return _issued(renew_holder_certificate(authority, serial, actor=caller.actor, years=years))


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
    services: ServicesDep,
    serial: str,
    body: Revocation,
    caller: Annotated[Caller, Depends(require(Role.RA_OFFICER))],
) -> dict[str, Any]:
    """Revoke a certificate (registration officers); refused, changing nothing, when already revoked
    unless the new reason is keyCompromise. An agency's seal certificate may wait for approvals (202)."""
    when = body.invalidity_date.astimezone(dt.UTC) if body.invalidity_date else None
    reason = reason_for_certificate(services.authority, serial, body.reason)
    record = controlled_actions.revoke(
        services.authority, serial, reason, when, actor=caller.actor, responder=services.ocsp
    )
    return _status(record)


@router.get("/{serial}")
def show(
    authority: AuthorityDep, serial: str, _: Annotated[Caller, Depends(require(*Role))]
) -> dict[str, Any]:
    """A certificate's status (any administrator)."""
    with authority.database.transaction() as session:
        return _status(find_certificate(session, serial))
