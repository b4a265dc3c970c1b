"""The activation module's tables: sealed subscriber keys and the grants (SAD) that open them briefly.

Nothing here is a secret in the clear: a credential row holds its key wrapped under the HSM's KEK and then
sealed under the holder's activation data; a grant row holds the SHA-256 of its SAD and the wrapped key
encrypted under that SAD, which only the client has.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ca.errors import NotFound
from ca.store import Base, UtcDateTime, utc_now

__all__ = [
    "ActivationGrant",
    "CredentialState",
    "GrantKind",
    "SealKind",
    "SigningCredential",
    "credential_row",
]


class CredentialState(StrEnum):
    AWAITING_HOLDER = "awaiting-holder"  # sealed under the one-time set-up code
    ACTIVE = "active"  # sealed under the holder's PIN
    DESTROYED = "destroyed"  # the sealed key is gone: nothing can sign with it


class SealKind(StrEnum):
    SETUP_CODE = "setup-code"
    PIN = "pin"


class GrantKind(StrEnum):
    HASHES = "hashes"  # CSC: the authorised hashes are what the module signs
    DOCUMENTS = "documents"  # the PDF service: the SHA-256 of each approved document, each signed once


class SigningCredential(Base):
    """One subscriber key, wrapped and sealed; certificates name it by ``key_id`` (their CKA_ID column)."""

    __tablename__ = "signing_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once destroyed
    seal: Mapped[str] = mapped_column(String(16))
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)  # wrong PINs or codes in a row
    # attempts begun and not yet judged: with the failures, never more than the attempts allowed, so that
    # parallel guesses cannot overtake the lock, while the holder's parallel requests lock nothing
    attempts_in_flight: Mapped[int] = mapped_column(Integer, default=0)
    lock_count: Mapped[int] = mapped_column(Integer, default=0)  # times wrong PINs locked it, ever
    locked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    destroyed_reason: Mapped[str | None] = mapped_column(String(64))


class ActivationGrant(Base):
    """Signature activation data as the module remembers it: bound to a credential, hashes and a count."""

    __tablename__ = "activation_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sad_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("signing_credentials.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    hash_algorithm: Mapped[str] = mapped_column(String(8))
    hashes: Mapped[str] = mapped_column(Text)  # the authorised hashes, hex, one per line
    used_hashes: Mapped[str] = mapped_column(Text, default="")  # the ones signed already (documents)
    remaining: Mapped[int] = mapped_column(Integer)
    key_under_sad: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once used up
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


def credential_row(session: Session, key_id: str, *, lock: bool = True) -> SigningCredential:
    """The credential ``key_id``, locked until the transaction ends unless ``lock`` is False."""
    query = select(SigningCredential).where(SigningCredential.key_id == key_id)
    credential = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if credential is None:
        raise NotFound(f"no signing credential {key_id}")
    return credential
