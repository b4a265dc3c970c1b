"""Everything recorded about one certificate, for the people who manage it (the console's detail page).

A dossier gathers what `govsign ca show` prints and more: the holder (the certificate's name and
organisation, and the signing accounts bound to it), the subject and issuer names, validity, the key (its
type, where it lives, the state of its activation in the signature activation module), the profile, the
status with the revocation reason and date, the chain up to the root, the certificates it renewed or was
replaced by, and its history from the audit log (entries about the certificate, its key and its
accounts). The bytes of the certificate come with it, for the PEM and DER downloads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from ca.activation import CredentialStatus
from ca.audit_search import AuditQuery, AuditRecord, search_log
from ca.authority import Authority
from ca.revocation import find_certificate
from ca.store import CertificateRecord
from govsign.access.accounts import Account, key_status

__all__ = ["HISTORY_ENTRIES", "BoundAccount", "CertificateDossier", "ChainLink", "certificate_dossier"]

HISTORY_ENTRIES = 200


@dataclass(frozen=True)
class ChainLink:
    """One certificate of the chain, from the certificate itself up to the root."""

    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True)
class BoundAccount:
    """A signing account that signs with this certificate (one holder per key)."""

    id: int
    kind: str
    holder: str


@dataclass(frozen=True)
class CertificateDossier:
    serial: str
    profile: str
    status: str
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    invalidity_date: dt.datetime | None
    common_name: str
    organisation: str | None
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str
    key_in_hsm: bool
    key_status: CredentialStatus | None  # None: a key from a CSR, held by its subscriber
    requesting_agency: str
    request_ref: str
    request: dict[str, Any]  # the validated request the certificate answers (prefills change of information)
    renewal_of: str | None
    superseded_by: str | None
    chain: Sequence[ChainLink]
    accounts: Sequence[BoundAccount]
    history: Sequence[AuditRecord]
    der: bytes = field(repr=False)

    @property
    def holder(self) -> str:
        """As people name a holder: "Nguyễn Văn Ánh — Sở Tư pháp thành phố Hà Nội"."""
        if self.organisation and self.organisation != self.common_name:
            return f"{self.common_name} — {self.organisation}"
        return self.common_name


def certificate_dossier(authority: Authority, serial: str) -> CertificateDossier:
    """The dossier of certificate ``serial`` (NotFound when there is none)."""
    with authority.database.reading() as session:
        record = find_certificate(session, serial)
        linked = {
            row.id: row.serial
            for row in session.execute(
                select(CertificateRecord).where(
                    CertificateRecord.id.in_(
                        [i for i in (record.renewal_of_id, record.superseded_by_id) if i is not None]
                    )
                )
            ).scalars()
        }
        accounts = [
            BoundAccount(a.id, a.kind, a.holder)
            for a in session.execute(select(Account).where(Account.certificate_id == record.id)).scalars()
        ]
        session.expunge(record)
    certificate = x509.load_der_x509_certificate(record.der)
    objects = [f"certificate:{record.serial}", *(f"account:{a.id}" for a in accounts)]
    # a token reissued or revoked names the account by its table (govsign.access.api_tokens)
    objects += [f"{Account.__tablename__}:{a.id}" for a in accounts]
    if record.key_id:
        objects.append(f"credential:{record.key_id}")
    history = search_log(authority.database, AuditQuery(objects=tuple(objects), limit=HISTORY_ENTRIES))
    return CertificateDossier(
        serial=record.serial,
        profile=record.profile,
        status=record.status,
        revoked_at=record.revoked_at,
        revocation_reason=record.revocation_reason,
        invalidity_date=record.invalidity_date,
        common_name=record.common_name,
        organisation=_attribute(certificate.subject, NameOID.ORGANIZATION_NAME),
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_before=record.not_before,
        not_after=record.not_after,
        key_type=_key_type(certificate),
        key_in_hsm=record.key_origin == "hsm",
        key_status=key_status(authority, record.key_id),
        requesting_agency=record.requesting_agency,
        request_ref=record.request_ref,
        request=json.loads(record.request_json),
        renewal_of=linked.get(record.renewal_of_id) if record.renewal_of_id else None,
        superseded_by=linked.get(record.superseded_by_id) if record.superseded_by_id else None,
        chain=_chain(certificate, authority.chain_of(certificate)),
        accounts=accounts,
        history=history,
        der=record.der,
    )


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def _key_type(certificate: x509.Certificate) -> str:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    return type(key).__name__


def _chain(certificate: x509.Certificate, ours: Sequence[x509.Certificate]) -> list[ChainLink]:
    """The certificate, then each issuer found among our CA certificates, up to a self-signed one."""
    links, current = [], certificate
    by_subject = {c.subject: c for c in ours}
    for _ in range(len(ours) + 1):
        links.append(
            ChainLink(
                current.subject.rfc4514_string(),
                current.issuer.rfc4514_string(),
                current.not_valid_before_utc,
                current.not_valid_after_utc,
            )
        )
        issuer = by_subject.get(current.issuer)
        if issuer is None or current.issuer == current.subject:
            break
        current = issuer
    return links
