"""Who may sign with which key: officials and agency clerks, their API tokens, and their keys' activation.

An official's account is bound to a certificate issued to an individual, a clerk's to the agency's seal
certificate; each signs only with that certificate, and a certificate has one account (one holder).
Programs present a random API token, stored only as its SHA-256. The activation PIN is not kept here at
all: it seals the holder's key inside the signature activation module (docs/SOLE-CONTROL.md), which
counts wrong PINs and locks at the fifth; the holder chooses it with the one-time set-up code handed to
them at registration, and no administrator can set or learn it. Every step lands in the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ca.activation import MAX_ATTEMPTS, CredentialState, CredentialStatus
from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.errors import InvalidRequest, NotFound, StateConflict
from ca.identifiers import check_visible_text
from ca.profiles import CertificateKind
from ca.revocation import find_certificate
from ca.store import Base, CertificateRecord, UtcDateTime, normalise_serial, utc_now
from govsign.access.api_tokens import hash_token, new_token, refuse_if_expired
from govsign.access.errors import NotAuthenticated, NotAuthorised

__all__ = [
    "MAX_IMAGE_BYTES",
    "Account",
    "AccountKind",
    "AccountSummary",
    "CreatedAccount",
    "authenticate",
    "authorise_certificate",
    "change_pin",
    "create_account",
    "credential_status",
    "key_status",
    "list_accounts",
    "move_to_certificate",
    "require_pin",
    "set_image",
    "unlock",
]

TOKEN_PREFIX = "gsk_"
MAX_IMAGE_BYTES = 2 * 2**20  # a signature image or seal; the faces read at most one byte more
_NOT_COUNTED = f"nothing was counted against your {MAX_ATTEMPTS} attempts"


class AccountKind(StrEnum):
    OFFICIAL = "official"  # signs with a certificate issued to them as an individual
    CLERK = "clerk"  # applies the agency's seal with the organisation certificate

    @property
    def certificate_kind(self) -> CertificateKind:
        return CertificateKind.INDIVIDUAL if self is AccountKind.OFFICIAL else CertificateKind.ORGANISATION


class Account(Base):
    """A signing account: one holder, one certificate, one API token; the key's PIN lives in the module."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    holder: Mapped[str] = mapped_column(String(128))  # the certificate's CN, for people and the audit log
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    certificate_serial: Mapped[str] = mapped_column(String(48))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    image_png: Mapped[bytes | None] = mapped_column(LargeBinary)  # signature image or seal
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)

    @property
    def actor(self) -> str:
        """How the audit log names the holder acting: the account's id first (holders' names repeat)."""
        return f"account:{self.id}:{self.holder}"


@dataclass(frozen=True)
class CreatedAccount:
    id: int
    holder: str
    certificate_serial: str
    token: str  # shown once; only its hash is kept


def create_account(authority: Authority, kind: AccountKind, serial: str, *, actor: str) -> CreatedAccount:
    """An account bound to certificate ``serial``, which must be of the kind's profile and valid."""
    token, digest, expires = new_token(TOKEN_PREFIX)
    with authority.database.transaction() as session:
        certificate = find_certificate(session, serial)
        if certificate.profile != kind.certificate_kind.value:
            raise InvalidRequest(
                f"an {kind} account needs a {kind.certificate_kind} certificate; {certificate.serial} is "
                f"a {certificate.profile} certificate"
            )
        if certificate.status != "valid":
            raise InvalidRequest(f"certificate {certificate.serial} is {certificate.status}")
        # One account per key, not only per certificate: a renewal keeps the key under a new serial.
        same_key = CertificateRecord.id == certificate.id
        if certificate.key_id is not None:
            same_key = or_(same_key, CertificateRecord.key_id == certificate.key_id)
        existing = session.scalar(
            select(Account.id)
            .join(CertificateRecord, Account.certificate_id == CertificateRecord.id)
            .where(same_key)
        )
        if existing is not None:
            raise StateConflict(
                f"the key of certificate {certificate.serial} has its holder's account already ({existing}); a "
                "second account would be a second way to it: reissue that account's token instead"
            )
        try:  # the holder's name is shown to people and in the audit log: nothing hidden in it
            holder = check_visible_text(certificate.common_name)
        except ValueError as error:
            raise InvalidRequest(f"the holder's name (the certificate's CN) {error}") from None
        account = Account(
            kind=kind.value,
            holder=holder,
            certificate_id=certificate.id,
            certificate_serial=certificate.serial,
            token_sha256=digest,
            token_expires_at=expires,
        )
        session.add(account)
        session.flush()
        append(
            session,
            authority.token,
            AuditEvent(
                actor, "account.create", f"account:{account.id}", details={"certificate": certificate.serial}
            ),
        )
        return CreatedAccount(account.id, account.holder, account.certificate_serial, token)


def _account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id, with_for_update=True)
    if account is None:
        raise NotFound(f"no account {account_id}")
    return account


def authorise_certificate(account: Account, serial: str | None) -> str:
    """The certificate this account signs with: its own, and no other."""
    try:
        wanted = None if serial is None else normalise_serial(serial)
    except ValueError as error:
        raise InvalidRequest(str(error)) from None
    if wanted is not None and wanted != account.certificate_serial:
        raise NotAuthorised(f"this account signs only with certificate {account.certificate_serial}")
    return account.certificate_serial


def change_pin(authority: Authority, account_id: int, current: str, new: str, *, client: str) -> None:
    """The holder chooses their PIN: the first time with the one-time set-up code from registration, then
    with the current PIN. Wrong codes and PINs count towards the credential's lock like any activation."""
    with authority.database.transaction() as session:
        account = _account(session, account_id)
        key_id, actor = _key_id(session, account), account.actor
    module = authority.activation_module()
    if module.status(key_id).state is CredentialState.AWAITING_HOLDER:
        module.take_control(key_id, current, new, actor=actor, client=client)
    else:
        module.change_pin(key_id, current, new, actor=actor, client=client)


def set_image(authority: Authority, account_id: int, png: bytes, *, actor: str) -> None:
    """Store the official's signature image or the agency's seal (PNG), uploaded by an administrator."""
    if len(png) > MAX_IMAGE_BYTES:
        raise InvalidRequest(f"an image is at most {MAX_IMAGE_BYTES // 2**20} MiB")
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InvalidRequest("the signature image or seal must be a PNG file")
    with authority.database.transaction() as session:
        account = _account(session, account_id)
        account.image_png = png
        details = {"sha256": hashlib.sha256(png).hexdigest()}
        append(
            session,
            authority.token,
            AuditEvent(actor, "account.set-image", f"account:{account.id}", details=details),
        )


def unlock(authority: Authority, account_id: int, *, actor: str) -> None:
    """An administrator lets the holder try their PIN again after five wrong ones (the PIN stays theirs)."""
    with authority.database.transaction() as session:
        key_id = _key_id(session, _account(session, account_id))
    authority.activation_module().unlock(key_id, actor=actor)


def credential_status(authority: Authority, account: Account) -> CredentialStatus | None:
    """The state of the account's key in the activation module; None for a key made elsewhere (a CSR)."""
    with authority.database.transaction() as session:
        record = find_certificate(session, account.certificate_serial)
        key_id = record.key_id
    return key_status(authority, key_id)


@dataclass(frozen=True)
class AccountSummary:
    """An account as the administrators' lists show it, with its key's state in the activation module."""

    id: int
    kind: AccountKind
    holder: str
    certificate_serial: str
    token_expires_at: dt.datetime | None
    has_image: bool
    key: CredentialStatus | None  # None: a key made elsewhere (a CSR)

    @property
    def key_state(self) -> str:
        """awaiting-holder, active, locked or destroyed; "elsewhere" for a key its subscriber holds."""
        if self.key is None:
            return "elsewhere"
        return "locked" if self.key.locked else str(self.key.state)


def list_accounts(authority: Authority, search: str = "", limit: int = 100) -> list[AccountSummary]:
    """The newest accounts (``search``: a part of the holder's name or the certificate's serial)."""
    query = (
        select(Account, CertificateRecord.key_id)
        .join(CertificateRecord, Account.certificate_id == CertificateRecord.id)
        .order_by(Account.id.desc())
        .limit(limit)
    )
    if search.strip():
        pattern = search.strip()
        query = query.where(
            or_(
                Account.holder.icontains(pattern, autoescape=True),
                Account.certificate_serial.contains(pattern.lower(), autoescape=True),
            )
        )
    with authority.database.reading() as session:
        rows = [(account, key_id) for account, key_id in session.execute(query)]
        session.expunge_all()
    return [
        AccountSummary(
            account.id,
            AccountKind(account.kind),
            account.holder,
            account.certificate_serial,
            account.token_expires_at,
            account.image_png is not None,
            key_status(authority, key_id),
        )
        for account, key_id in rows
    ]


def key_status(authority: Authority, key_id: str | None) -> CredentialStatus | None:
    """The state of key ``key_id`` in the activation module; None for none, or a key it does not hold
    (a subscriber's own key from a CSR, a service key of the token)."""
    if key_id is None:
        return None
    try:
        return authority.activation_module().status(key_id)
    except NotFound:
        return None


def authenticate(authority: Authority, token: str | None) -> Account:
    """The account an API token belongs to."""
    if not token:
        raise NotAuthenticated("sign in with your API token (Authorization: Bearer ...)")
    with authority.database.reading() as session:
        account = session.execute(
            select(Account).where(Account.token_sha256 == hash_token(token))
        ).scalar_one_or_none()
        if account is None:
            raise NotAuthenticated("this API token is not known")
        refuse_if_expired(account.token_expires_at, NotAuthenticated)
        session.expunge(account)
        return account


def require_pin(pin: str | None, *, how: str) -> str:
    """The activation PIN a request must carry, or 401 (NotAuthenticated) saying ``how`` to give it. A
    client that left it out did not guess wrong: no attempt is spent and nothing is audited."""
    if not pin:
        raise NotAuthenticated(f"the activation PIN is missing: {how}; {_NOT_COUNTED}")
    return pin


def move_to_certificate(
    authority: Authority, old_serial: str, new_serial: str, *, actor: str, action: str = "account.rekey"
) -> list[int]:
    """The accounts of ``old_serial`` now sign with ``new_serial`` (a certificate of the same holder,
    re-keyed or with changed information), under the holder's name as the new certificate gives it;
    returns their ids. After a re-key the holder still has to choose the new key's PIN with its set-up
    code; after a change of information the key, and so the PIN, stay the same."""
    with authority.database.transaction() as session:
        old, new = find_certificate(session, old_serial), find_certificate(session, new_serial)
        moved = list(session.scalars(select(Account).where(Account.certificate_id == old.id)))
        for account in moved:
            account.certificate_id, account.certificate_serial = new.id, new.serial
            account.holder = check_visible_text(new.common_name)  # issued certificates passed this check
            details = {"from": old.serial, "to": new.serial}
            append(
                session, authority.token, AuditEvent(actor, action, f"account:{account.id}", details=details)
            )
        return [account.id for account in moved]


def _key_id(session: Session, account: Account) -> str:
    record = find_certificate(session, account.certificate_serial)
    if record.key_id is None:
        raise InvalidRequest(
            f"the key of certificate {record.serial} is not in this HSM; its holder activates it on their device"
        )
    return record.key_id
