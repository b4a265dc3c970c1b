"""Who may sign with which key: officials and agency clerks, their API tokens and activation PINs.

The minimum account model of the signing service (the accounts issue grows it into roles, TOTP and dual
control). An official's account is bound to a certificate issued to an individual, a clerk's to the
agency's seal certificate; each signs only with that certificate. Programs present a random API token,
stored only as its SHA-256. Every signature also needs the holder's activation PIN, stored as an argon2id
hash (m=19 MiB, t=2, p=1, OWASP's minimum); five wrong PINs in a row lock the credential until an
administrator unlocks it. Every step that matters lands in the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.errors import CaError, InvalidRequest, NotFound
from ca.identifiers import check_visible_text
from ca.profiles import CertificateKind
from ca.revocation import find_certificate
from ca.store import Base, UtcDateTime, normalise_serial, utc_now
from govsign.api_tokens import hash_token, new_token, refuse_if_expired

__all__ = [
    "Account",
    "AccountKind",
    "AccountLocked",
    "CreatedAccount",
    "NotAuthenticated",
    "NotAuthorised",
    "PinRejected",
    "activate",
    "authenticate",
    "authorise_certificate",
    "change_pin",
    "create_account",
    "require_pin",
    "set_image",
    "set_pin",
    "unlock",
]

MAX_PIN_FAILURES = 5
MIN_PIN_LENGTH = 6
TOKEN_PREFIX = "gsk_"
_NOT_COUNTED = f"nothing was counted against your {MAX_PIN_FAILURES} attempts"
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class AccountKind(StrEnum):
    OFFICIAL = "official"  # signs with a certificate issued to them as an individual
    CLERK = "clerk"  # applies the agency's seal with the organisation certificate

    @property
    def certificate_kind(self) -> CertificateKind:
        return CertificateKind.INDIVIDUAL if self is AccountKind.OFFICIAL else CertificateKind.ORGANISATION


class NotAuthenticated(CaError):
    """No API token, or one we do not know (HTTP 401)."""


class NotAuthorised(CaError):
    """The account may not do this, e.g. sign with someone else's certificate (HTTP 403)."""


class PinRejected(NotAuthorised):
    """The activation PIN is wrong or not set."""


class AccountLocked(NotAuthorised):
    """Too many wrong PINs: the credential is locked until an administrator unlocks it."""


class Account(Base):
    """A signing credential: one holder, one certificate, one API token, one activation PIN."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    holder: Mapped[str] = mapped_column(String(128))  # the certificate's CN, for people and the audit log
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    certificate_serial: Mapped[str] = mapped_column(String(48))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    pin_hash: Mapped[str | None] = mapped_column(String(160))
    failed_pins: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
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
            failed_pins=0,
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


def set_pin(authority: Authority, account_id: int, pin: str, *, actor: str) -> None:
    """Set (or change) the activation PIN; it also clears failed attempts and a lock."""
    if len(pin) < MIN_PIN_LENGTH:
        raise InvalidRequest(f"the PIN needs at least {MIN_PIN_LENGTH} characters")
    with authority.database.transaction() as session:
        account = _account(session, account_id)
        account.pin_hash = _hasher.hash(pin)
        account.failed_pins = 0
        account.locked_at = None
        append(session, authority.token, AuditEvent(actor, "account.set-pin", f"account:{account.id}"))


def change_pin(authority: Authority, account_id: int, current: str | None, new: str, *, client: str) -> None:
    """The holder sets or changes their own PIN (sole control: no administrator sees it); changing one
    needs the current PIN, whose failures count towards the lock like any activation."""
    if len(new) < MIN_PIN_LENGTH:
        raise InvalidRequest(f"the PIN needs at least {MIN_PIN_LENGTH} characters")
    with authority.database.transaction() as session:
        account = _account(session, account_id)
        refusal = None if account.pin_hash is None else _refusal(account, current)
        result = "refused" if refusal else "success"
        if refusal is None:
            account.pin_hash, account.failed_pins, account.locked_at = _hasher.hash(new), 0, None
        details = {"client": client, **({"reason": type(refusal).__name__} if refusal else {})}
        event = AuditEvent(account.actor, "account.change-pin", f"account:{account.id}", result, details)
        append(session, authority.token, event)
    if refusal is not None:
        raise refusal


def set_image(authority: Authority, account_id: int, png: bytes, *, actor: str) -> None:
    """Store the official's signature image or the agency's seal (PNG), uploaded by an administrator."""
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
    with authority.database.transaction() as session:
        account = _account(session, account_id)
        account.failed_pins = 0
        account.locked_at = None
        append(session, authority.token, AuditEvent(actor, "account.unlock", f"account:{account.id}"))


def authenticate(authority: Authority, token: str | None) -> Account:
    """The account an API token belongs to."""
    if not token:
        raise NotAuthenticated("sign in with your API token (Authorization: Bearer ...)")
    with authority.database.transaction() as session:
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


def activate(authority: Authority, account: Account, pin: str | None, *, client: str, purpose: str) -> None:
    """Check the activation PIN for one signing request; count failures and lock at the fifth.

    The failure is committed and audited before the error is raised, so a guesser learns nothing by
    aborting the request, and the audit log shows who tried from where.
    """
    with authority.database.transaction() as session:
        current = _account(session, account.id)
        refusal = _refusal(current, pin)
        details = {"client": client, "purpose": purpose}
        if refusal is not None:
            details["reason"] = type(refusal).__name__
        event = AuditEvent(
            current.actor,
            "account.activate",
            f"account:{current.id}",
            result="success" if refusal is None else "refused",
            details=details,
        )
        append(session, authority.token, event)
    if refusal is not None:
        raise refusal


def _refusal(account: Account, pin: str | None) -> CaError | None:
    """Why ``pin`` does not activate ``account`` (counting the failure), or None when it does."""
    if account.locked_at is not None:
        return AccountLocked(
            "this credential is locked after too many wrong PINs; ask an administrator to unlock it"
        )
    if account.pin_hash is None:
        return PinRejected("no activation PIN is set for this account yet")
    if not pin:  # forgotten, not guessed: it does not spend one of the attempts
        return PinRejected(f"give your activation PIN; {_NOT_COUNTED}")
    if _pin_matches(account.pin_hash, pin):
        account.failed_pins = 0
        return None
    account.failed_pins += 1
    remaining = MAX_PIN_FAILURES - account.failed_pins
    if remaining > 0:
        return PinRejected(f"wrong PIN ({remaining} attempts left before the credential locks)")
    account.locked_at = utc_now()
    return AccountLocked("wrong PIN; the credential is now locked, ask an administrator")


def _pin_matches(pin_hash: str, pin: str) -> bool:
    try:
        return _hasher.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False
