"""Third-party certificates a verifier trusts: other Vietnamese CAs' roots and intermediates.

Administrators (``ca_admin``) add them from PEM or DER files, each under a name the reports will show and
with an optional window of trust (EU DSS's trusted-list history, in small): an anchor counts only for
signatures whose best signature time lies inside the window, so a CA that was trusted until a date keeps
its old signatures valid without vouching for later ones. An *anchor* ends a path; an *intermediate* only
helps build paths for signatures that carry their leaf alone. Every change is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from asn1crypto import x509 as asn1_x509
from sqlalchemy import Integer, LargeBinary, String, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.errors import InvalidRequest, NotFound, StateConflict
from ca.identifiers import check_visible_text
from ca.store import Base, UtcDateTime, utc_now
from signing.validation import TrustAnchor

__all__ = [
    "TrustRole",
    "TrustedCertificate",
    "TrustedEntry",
    "add_trusted_certificate",
    "check_trustable",
    "list_trusted_certificates",
    "remove_trusted_certificate",
    "trusted_certificate",
]


class TrustRole(StrEnum):
    ANCHOR = "anchor"
    INTERMEDIATE = "intermediate"


class TrustedCertificate(Base):
    __tablename__ = "trusted_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(512))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    trusted_from: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    trusted_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


@dataclass(frozen=True)
class TrustedEntry:
    """One row as the faces show it (no ORM object leaves this module)."""

    id: int
    name: str
    role: TrustRole
    sha256: str
    subject: str
    certificate_not_after: dt.datetime
    trusted_from: dt.datetime | None
    trusted_until: dt.datetime | None
    added_by: str
    added_at: dt.datetime
    certificate: asn1_x509.Certificate = field(repr=False, compare=False)

    @classmethod
    def of(cls, row: TrustedCertificate) -> TrustedEntry:
        certificate = asn1_x509.Certificate.load(row.der)
        return cls(
            id=row.id,
            name=row.name,
            role=TrustRole(row.role),
            sha256=row.sha256,
            subject=row.subject,
            certificate_not_after=certificate.not_valid_after,
            trusted_from=row.trusted_from,
            trusted_until=row.trusted_until,
            added_by=row.added_by,
            added_at=row.added_at,
            certificate=certificate,
        )

    def as_anchor(self) -> TrustAnchor:
        return TrustAnchor(self.name, self.certificate, self.trusted_from, self.trusted_until)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "sha256": self.sha256,
            "subject": self.subject,
            "certificate_not_after": self.certificate_not_after.isoformat(),
            "trusted_from": self.trusted_from.isoformat() if self.trusted_from else None,
            "trusted_until": self.trusted_until.isoformat() if self.trusted_until else None,
            "added_by": self.added_by,
            "added_at": self.added_at.isoformat(),
        }


def add_trusted_certificate(
    authority: Authority,
    certificate: asn1_x509.Certificate,
    *,
    name: str,
    role: TrustRole,
    trusted_from: dt.datetime | None = None,
    trusted_until: dt.datetime | None = None,
    actor: str,
) -> TrustedEntry:
    """Trust ``certificate`` under ``name``; refuses end-entity certificates, empty windows and doubles."""
    name = check_trustable(certificate, name, trusted_from, trusted_until)
    der = certificate.dump()
    digest = hashlib.sha256(der).hexdigest()
    row = TrustedCertificate(
        name=name,
        role=role.value,
        sha256=digest,
        subject=certificate.subject.human_friendly[:512],
        der=der,
        trusted_from=trusted_from,
        trusted_until=trusted_until,
        added_by=actor[:128],
    )
    try:
        with authority.database.transaction() as session:
            _refuse_double(session, name, digest)
            session.add(row)
            session.flush()
            details = {"name": name, "role": role.value, "sha256": digest, "subject": row.subject}
            if trusted_from or trusted_until:
                details["window"] = f"{trusted_from or '-'} .. {trusted_until or '-'}"
            append(
                session, authority.token, AuditEvent(actor, "trust.add", f"trusted:{row.id}", details=details)
            )
            return TrustedEntry.of(row)
    except IntegrityError:  # a concurrent add of the same name or certificate
        raise StateConflict(f"{name!r} or this certificate is already in the trust store") from None


def check_trustable(
    certificate: asn1_x509.Certificate,
    name: str,
    trusted_from: dt.datetime | None,
    trusted_until: dt.datetime | None,
) -> str:
    """The cleaned name, if ``certificate`` can be trusted under it for that window (doubles aside)."""
    try:
        name = check_visible_text(name).strip()
    except ValueError as error:  # validation reports show the name: it must read as what was typed
        raise InvalidRequest(f"the trust anchor's name {error}") from None
    if not name or len(name) > 128:
        raise InvalidRequest("give the certificate a name of 1 to 128 characters; reports will show it")
    if not certificate.ca:
        raise InvalidRequest(
            f"{certificate.subject.human_friendly} is not a CA certificate (basicConstraints cA is not set); "
            "only roots and intermediates can be trusted"
        )
    if trusted_from and trusted_until and trusted_until <= trusted_from:
        raise InvalidRequest("the window of trust ends before it starts")
    return name


def _refuse_double(session: Session, name: str, digest: str) -> None:
    clash = select(TrustedCertificate).where(
        or_(TrustedCertificate.sha256 == digest, TrustedCertificate.name == name)
    )
    for existing in session.execute(clash).scalars():
        if existing.sha256 == digest:
            raise StateConflict(
                f"this certificate is already trusted as {existing.name!r} (id {existing.id})"
            )
        if existing.name == name:
            raise StateConflict(f"the name {name!r} is already used by trusted certificate {existing.id}")


def trusted_certificate(authority: Authority, entry_id: int) -> TrustedEntry:
    """One trusted certificate by its id (NotFound when there is none)."""
    with authority.database.reading() as session:
        row = session.get(TrustedCertificate, entry_id)
        if row is None:
            raise NotFound(f"no trusted certificate {entry_id}")
        return TrustedEntry.of(row)


def remove_trusted_certificate(
    authority: Authority, entry_id: int, *, actor: str, sha256: str | None = None
) -> TrustedEntry:
    """Stop trusting entry ``entry_id``; with ``sha256``, only if it still holds that certificate."""
    with authority.database.transaction() as session:
        row = session.get(TrustedCertificate, entry_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no trusted certificate {entry_id}")
        if sha256 is not None and row.sha256 != sha256:
            raise StateConflict(f"trusted certificate {entry_id} holds another certificate now; ask again")
        entry = TrustedEntry.of(row)
        session.delete(row)
        details = {"name": row.name, "sha256": row.sha256}
        append(
            session,
            authority.token,
            AuditEvent(actor, "trust.remove", f"trusted:{entry_id}", details=details),
        )
        return entry


def list_trusted_certificates(authority: Authority) -> list[TrustedEntry]:
    with authority.database.transaction() as session:
        rows = session.execute(select(TrustedCertificate).order_by(TrustedCertificate.id)).scalars()
        return [TrustedEntry.of(row) for row in rows]
