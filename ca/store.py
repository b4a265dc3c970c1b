"""Persistence of the CA: tables and the database handle (SQLAlchemy 2). No business rules live here.

SQLite is the default for one machine; PostgreSQL is the single source of truth when several machines run.
Both must keep one order of writes where it matters (serial uniqueness, the audit chain): PostgreSQL by
constraints and row locks, SQLite by taking the write lock at BEGIN (``BEGIN IMMEDIATE``) so that two
processes never both read the same audit head.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from ca import clock
from ca.interruption import uninterrupted
from ca.sqlite_engine import READ_ONLY_OPTION, sqlite_engine

__all__ = [
    "AuditEntry",
    "AuditHead",
    "Base",
    "CaRecord",
    "CaSetting",
    "CertificateRecord",
    "CrlShard",
    "CrlState",
    "Database",
    "IssuanceIntent",
    "Lease",
    "OcspChange",
    "OcspResponse",
    "acquire_lease",
    "certificate_by_serial",
    "list_certificates",
    "normalise_serial",
    "utc_now",
]


def utc_now() -> dt.datetime:
    """Now, from :mod:`ca.clock` (which tests can move)."""
    return clock.now()


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that goes in and comes out timezone-aware UTC, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    pass


class CaRecord(Base):
    """A CA of the hierarchy: the root (key in the root token) or an issuing CA (key in the service token)."""

    __tablename__ = "cas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # root-ca | issuing-ca
    token_label: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))  # CKA_ID, hex
    key_type: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)
    serial: Mapped[str] = mapped_column(String(48))
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cas.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


SERVICE_SEAL_SETTING = "service_seal_serial"  # the ceremony's own organisation certificate


class CaSetting(Base):
    """Deployment choices fixed at the ceremony (policy OID, citizen-ID placement), as JSON values."""

    __tablename__ = "ca_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class CertificateRecord(Base):
    """A certificate signed by one of our CAs, with the Decree 68 request it answers."""

    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("issuer_id", "serial", name="uq_certificate_serial_per_issuer"),
        # the CRLs' queries: an issuer's revoked certificates, all of them or one shard's, unexpired
        Index("ix_certificates_issuer_status_expiry", "issuer_id", "status", "not_after"),
        Index("ix_certificates_issuer_shard_status", "issuer_id", "crl_shard", "status", "not_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("cas.id"))
    serial: Mapped[str] = mapped_column(String(48), index=True)  # lower-case hex, no leading zeros
    profile: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="valid")  # valid | revoked
    subject: Mapped[str] = mapped_column(Text)  # RFC 4514 string, for people and search
    common_name: Mapped[str] = mapped_column(String(128), index=True)
    personal_id: Mapped[str | None] = mapped_column(String(12), index=True)
    tax_code: Mapped[str | None] = mapped_column(String(14), index=True)
    email: Mapped[str | None] = mapped_column(String(128))
    requesting_agency: Mapped[str] = mapped_column(String(256))
    request_ref: Mapped[str] = mapped_column(String(128))
    request_json: Mapped[str] = mapped_column(Text)  # the validated request, including fields not in the DN
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    key_origin: Mapped[str] = mapped_column(String(8))  # hsm | csr
    token_label: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(64))  # CKA_ID, hex, when the key lives in our HSM
    renewal_of_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    invalidity_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    crl_shard: Mapped[int | None] = mapped_column(Integer)  # None: named the full CRL (issued before shards)


class IssuanceIntent(Base):
    """What is about to be signed, written before anything is: a crash leaves this record, never a mystery."""

    __tablename__ = "issuance_intents"
    __table_args__ = (
        UniqueConstraint("issuer_id", "serial", name="uq_intent_serial_per_issuer"),
        Index("ix_issuance_intents_state_updated", "state", "updated_at"),  # unfinished and stale ones
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("cas.id"))
    serial: Mapped[str] = mapped_column(String(48))
    profile: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)
    requesting_agency: Mapped[str] = mapped_column(String(256))
    request_ref: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | linted | done | failed
    key_id: Mapped[str | None] = mapped_column(String(64))
    tbs: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(Text)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now)


class AuditEntry(Base):
    """One link of the audit hash chain."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object: Mapped[str] = mapped_column(String(256), index=True)  # a certificate's history is read by it
    result: Mapped[str] = mapped_column(String(16))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The newest link and an HMAC over it made in the HSM: deleting the newest entries is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """Every CHECKPOINT_EVERY-th link, signed by an ECDSA key in the HSM: anyone with the public key can
    check an exported range, and an attacker without the HSM cannot forge one."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    signature: Mapped[str] = mapped_column(Text)  # base64 of the DER ECDSA-Sig-Value


class AuditSigningKey(Base):
    """The HSM key pair that signs checkpoints and exports (one row); the public key is kept here so that
    exports can carry it, and is compared with the token's at verification."""

    __tablename__ = "audit_signing_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64))
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


class CrlState(Base):
    """The newest CRL of one CA: its number only ever grows, under this row's lock."""

    __tablename__ = "crl_state"

    ca_id: Mapped[int] = mapped_column(ForeignKey("cas.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, default=0)
    this_update: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Deferred: a million-entry CRL is 50 MB, and locking the row (each revocation, each publication) or
    # asking whether it is due must not read it; the readers that serve it ask for it (undefer).
    der: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    dirty_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)  # a revocation awaits publication


class CrlShard(Base):
    """The newest CRL of one shard of a CA (RFC 5280 §5.2.5 issuingDistributionPoint): numbered from the
    CA's one sequence, under its ``crl_state`` row's lock; rebuilt when a revocation marks it dirty."""

    __tablename__ = "crl_shards"

    ca_id: Mapped[int] = mapped_column(ForeignKey("cas.id"), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    number: Mapped[int] = mapped_column(Integer, default=0)
    this_update: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    der: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # as CrlState.der
    dirty_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class OcspResponse(Base):
    """A pre-signed OCSP response (SHA-1 CertID, no nonce) for one certificate, served as stored bytes."""

    __tablename__ = "ocsp_responses"
    __table_args__ = (UniqueConstraint("issuer_id", "serial", name="uq_ocsp_response_serial_per_issuer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("cas.id"))
    serial: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16))  # good | revoked
    der: Mapped[bytes] = mapped_column(LargeBinary)
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class OcspChange(Base):
    """A serial whose response was re-signed out of schedule; every process polls these to drop stale copies."""

    __tablename__ = "ocsp_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("cas.id"))
    serial: Mapped[str] = mapped_column(String(48))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


class Lease(Base):
    """Who does a periodic job now (CRL schedule, OCSP refresh), so that N processes do it once."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Database:
    """An engine and a session factory for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = sqlite_engine(url)
            reading = self.engine.execution_options(**{READ_ONLY_OPTION: True})
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
            reading = self.engine.execution_options(postgresql_readonly=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reading_sessions = sessionmaker(reading, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on any exception; a stop
        from another thread (:mod:`ca.interruption`) waits until it has ended."""
        with uninterrupted(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction: one consistent snapshot that waits for no writer and that no writer
        waits for (on SQLite it skips the writers' turn and BEGIN IMMEDIATE). Any write in it fails, so
        a check made here must be made again where the write happens if it must hold at that moment."""
        with uninterrupted(), self._reading_sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def normalise_serial(text: str) -> str:
    """A serial as we store it (lower-case hex, no leading zeros) from what a person typed."""
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "").replace(" ", "")
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise ValueError(f"{text!r} is not a hexadecimal serial number") from None
    return format(value, "x")


def certificate_by_serial(session: Session, serial: str) -> CertificateRecord | None:
    return session.execute(
        select(CertificateRecord).where(CertificateRecord.serial == normalise_serial(serial))
    ).scalar_one_or_none()


def list_certificates(
    session: Session, *, limit: int = 100, profile: str | None = None
) -> list[CertificateRecord]:
    query = select(CertificateRecord).order_by(CertificateRecord.id.desc()).limit(limit)
    if profile:
        query = query.where(CertificateRecord.profile == profile)
    return list(session.execute(query).scalars())


def acquire_lease(session: Session, name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease ``name`` for ``holder`` unless someone else holds it unexpired."""
    now = utc_now()
    lease = session.get(Lease, name, with_for_update=True)
    if lease is None:
        session.add(Lease(name=name, holder=holder, expires_at=now + dt.timedelta(seconds=seconds)))
        session.flush()
        return True
    if lease.holder != holder and lease.expires_at > now:
        return False
    lease.holder = holder
    lease.expires_at = now + dt.timedelta(seconds=seconds)
    return True
