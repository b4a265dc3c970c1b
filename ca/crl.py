"""Certificate revocation lists (RFC 5280 §5): v2, AKI, strictly increasing CRLNumber, reasonCode and
invalidityDate per entry, signed in the HSM, verified before they are published.

A CRL is built in one pass over the revoked rows, streamed from the database (a server-side cursor on
PostgreSQL): each entry is DER-encoded straight into a temporary file (:mod:`ca.crl_der`), the TBSCertList's
digest is signed in the HSM, and the finished CRL is read back as the one copy the process holds, so a
CRL of a million entries builds in seconds and in about its own size of memory (issue 14). Its signature
is checked with the CA's public key over that copy's TBSCertList, and `cryptography` parses it whole,
before it is published.

A CA publishes its full CRL and, when the ceremony partitioned it (ca.crl_partition), one small CRL per
shard whose critical issuingDistributionPoint names the shard's URL (RFC 5280 §5.2.5): ``scope`` says which.
Every CRL of a CA, full or shard, takes the next number of one sequence: RFC 5280 §5.2.3 asks only that
numbers grow within a scope, but a relying party that compares numbers across a CA's CRLs never sees one go
back. The number is read, incremented and stored under the lock of the CA's ``crl_state`` row, in the same
transaction that publishes the CRL, so several processes never publish a lower number or two CRLs with one.

Before the HSM signs, a copy with at most ``LINT_SAMPLE`` entries (the envelope whole, the entries' encoder
by sample, so a million-entry CRL costs what a small one does) is judged by pkilint's RFC 5280 CRL linter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import algos, core
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, undefer

from ca import audit
from ca.authority import CaKey
from ca.crl_der import CrlFields, CrlWriter, SignedCrl, unsigned_crl
from ca.errors import HsmError
from ca.hsm import Token
from ca.lint import lint_crl
from ca.store import CaRecord, CertificateRecord, CrlShard, CrlState, Database, utc_now

__all__ = [
    "ISSUING_CRL_VALIDITY",
    "ROOT_CRL_VALIDITY",
    "CrlScope",
    "PublishedCrl",
    "mark_dirty",
    "publish_crl",
    "published_crl",
    "published_shard",
]

ISSUING_CRL_VALIDITY = dt.timedelta(days=7)
ROOT_CRL_VALIDITY = dt.timedelta(days=365)
LINT_SAMPLE = 100
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class CrlScope:
    """Which certificates a CRL covers: one shard's, named by its URL; ``None`` in its place: all."""

    shard: int
    url: str


@dataclass(frozen=True)
class PublishedCrl:
    """A CRL as published: its number, validity window, DER and number of entries."""

    number: int
    this_update: dt.datetime
    next_update: dt.datetime
    der: bytes
    entries: int


# -- building and publishing -----------------------------------------------------------------------------------


def _signature_algorithm(ca: CaKey) -> bytes:
    if ca.algorithm.is_rsa:
        return bytes(
            algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": core.Null()}).dump()
        )
    hash_name = ca.algorithm.default_signature.hash
    return bytes(algos.SignedDigestAlgorithm({"algorithm": f"{hash_name}_ecdsa"}).dump())


def _extensions(ca: CaKey, number: int, scope: CrlScope | None) -> bytes:
    extensions: list[dict[str, object]] = [
        {
            "extn_id": "authority_key_identifier",
            "critical": False,
            "extn_value": {"key_identifier": ca.subject_key_identifier},
        },
        {"extn_id": "crl_number", "critical": False, "extn_value": number},
    ]
    if scope is not None:  # RFC 5280 §5.2.5: critical; only end-entity certificates carry a shard's CDP
        point = {"full_name": [asn1_x509.GeneralName("uniform_resource_identifier", scope.url)]}
        extensions.append(
            {
                "extn_id": "issuing_distribution_point",
                "critical": True,
                "extn_value": {"distribution_point": point, "only_contains_user_certs": True},
            }
        )
    return bytes(asn1_crl.TBSCertListExtensions(extensions).dump())


def _fields(
    ca: CaKey, number: int, this_update: dt.datetime, next_update: dt.datetime, scope: CrlScope | None
) -> CrlFields:
    issuer = asn1_x509.Certificate.load(ca.certificate.public_bytes(serialization.Encoding.DER))
    return CrlFields(
        signature_algorithm=_signature_algorithm(ca),
        issuer=issuer["tbs_certificate"]["subject"].dump(),
        this_update=this_update,
        next_update=next_update,
        extensions=_extensions(ca, number, scope),
    )


def _write_entries(
    session: Session, ca_id: int, now: dt.datetime, scope: CrlScope | None, writer: CrlWriter
) -> None:
    """An entry for every revoked, unexpired certificate of ``ca_id`` in ``scope`` (expired ones may leave,
    RFC 5280 §3.3), as the rows come."""
    query = select(
        CertificateRecord.serial,
        CertificateRecord.revoked_at,
        CertificateRecord.revocation_reason,
        CertificateRecord.invalidity_date,
    ).where(
        CertificateRecord.issuer_id == ca_id,
        CertificateRecord.status == "revoked",
        CertificateRecord.not_after > now,
    )
    if scope is not None:
        query = query.where(CertificateRecord.crl_shard == scope.shard)
    # Core rows, streamed (a server-side cursor on PostgreSQL): the ORM's yield_per took twice as long per row
    rows = session.connection().execute(query.execution_options(yield_per=20_000))
    for serial, revoked_at, reason, invalid in rows:
        writer.add(serial, revoked_at, reason, invalid)


def _next_number(session: Session, state: CrlState) -> int:
    """One more than any CRL of the CA has carried, full or shard (the caller holds ``state``'s lock)."""
    shards = session.execute(
        select(func.max(CrlShard.number)).where(CrlShard.ca_id == state.ca_id)
    ).scalar_one_or_none()
    return max(state.number, shards or 0) + 1


def _locked_state(session: Session, ca_id: int) -> CrlState:
    state = session.get(CrlState, ca_id, with_for_update=True)
    if state is None:
        state = CrlState(ca_id=ca_id, number=0)
        session.add(state)
        session.flush()
    return state


def _signed_crl(ca: CaKey, writer: CrlWriter) -> bytes:
    """The CRL whose TBSCertList's digest the HSM signed, checked with the CA's public key: the DER to
    publish."""
    scheme = ca.algorithm.default_signature
    signed = writer.sign(scheme.hash, lambda digest: ca.token.sign_digest(ca.key_id, digest, scheme))
    if not _signed_by(ca, signed):
        raise HsmError(f"the CRL signed for {ca.name} is unreadable or fails the CA's key; not published")
    return signed.der


def _signed_by(ca: CaKey, signed: SignedCrl) -> bool:
    """Whether ``signed`` parses whole (`cryptography` reads every entry) and its signature verifies with
    the CA's public key over its TBSCertList, hashed again from the bytes to publish (not from the file the
    HSM's digest came from; `cryptography`'s own check would re-encode the whole list to hash it)."""
    scheme = ca.algorithm.default_signature
    digest = hashlib.new(scheme.hash, signed.tbs).digest()
    prehashed = Prehashed(_HASHES[scheme.hash]())
    key = ca.certificate.public_key()
    try:
        signature = x509.load_der_x509_crl(signed.der).signature
        if isinstance(key, ec.EllipticCurvePublicKey) and scheme.scheme == "ecdsa":
            key.verify(signature, digest, ec.ECDSA(prehashed))
        elif isinstance(key, rsa.RSAPublicKey) and scheme.scheme == "rsa-pkcs1v15":
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        else:
            return False
    except (InvalidSignature, ValueError):  # ValueError: not a CRL cryptography can read
        return False
    return True


def _record(session: Session, ca: CaKey, state: CrlState, scope: CrlScope | None) -> CrlState | CrlShard:
    """The row that keeps the newest CRL of ``scope``: the CA's state row itself for the full CRL."""
    if scope is None:
        return state
    shard = session.get(CrlShard, (ca.id, scope.shard), with_for_update=True)
    if shard is None:
        shard = CrlShard(ca_id=ca.id, shard=scope.shard)
        session.add(shard)
    return shard


def publish_crl(
    database: Database,
    ca: CaKey,
    *,
    audit_token: Token,
    validity: dt.timedelta = ISSUING_CRL_VALIDITY,
    actor: str,
    scope: CrlScope | None = None,
) -> PublishedCrl:
    """Build, sign, verify and publish the next CRL of ``ca``: the full one, or that of the shard ``scope``
    names; numbered from the CA's one sequence, under its state row's lock."""
    now = utc_now().replace(microsecond=0)
    next_update = now + validity
    with database.transaction() as session:
        state = _locked_state(session, ca.id)
        number = _next_number(session, state)
        with CrlWriter(_fields(ca, number, now, next_update, scope), LINT_SAMPLE) as writer:
            _write_entries(session, ca.id, now, scope, writer)
            lint_crl(unsigned_crl(writer.fields, bytes(writer.sample)))
            entries = writer.count
            der = _signed_crl(ca, writer)
        record = _record(session, ca, state, scope)
        record.number, record.this_update, record.next_update, record.der = number, now, next_update, der
        record.dirty_since = None
        audit.append(
            session,
            audit_token,
            audit.AuditEvent(
                actor=actor,
                action="crl.publish",
                object=f"crl:{ca.name}:{number}"
                if scope is None
                else f"crl:{ca.name}/{scope.shard}:{number}",
                details={"entries": entries, "next_update": next_update.isoformat()},
            ),
        )
    return PublishedCrl(number, now, next_update, der, entries)


def mark_dirty(session: Session, ca_id: int, shard: int | None = None) -> None:
    """Ask for a new full CRL, and a new CRL of ``shard``, soon (the scheduler publishes a shard within a
    round or two of a revocation, the full CRL within minutes). A shard never published has no row: the
    scheduler publishes it anyway."""
    state = session.get(CrlState, ca_id, with_for_update=True)
    if state is None:
        session.add(CrlState(ca_id=ca_id, number=0, dirty_since=utc_now()))
    elif state.dirty_since is None:
        state.dirty_since = utc_now()
    if shard is not None:
        session.execute(
            update(CrlShard)
            .where(CrlShard.ca_id == ca_id, CrlShard.shard == shard, CrlShard.dirty_since.is_(None))
            .values(dirty_since=utc_now())
        )


def published_crl(database: Database, ca_name: str) -> PublishedCrl | None:
    """The newest published CRL of the CA called ``ca_name``, as served at /pki/crl/{name}.crl."""
    with database.reading() as session:
        row = session.execute(
            select(CrlState)
            .options(undefer(CrlState.der))
            .join(CaRecord, CaRecord.id == CrlState.ca_id)
            .where(CaRecord.name == ca_name)
        ).scalar_one_or_none()
        if row is None or row.der is None or row.this_update is None or row.next_update is None:
            return None
        return PublishedCrl(row.number, row.this_update, row.next_update, row.der, -1)


def published_shard(database: Database, ca_name: str, shard: int) -> PublishedCrl | None:
    """The newest published CRL of one shard of the CA called ``ca_name`` (/pki/crl/{name}/{shard}.crl)."""
    with database.reading() as session:
        row = session.execute(
            select(CrlShard)
            .options(undefer(CrlShard.der))
            .join(CaRecord, CaRecord.id == CrlShard.ca_id)
            .where(CaRecord.name == ca_name, CrlShard.shard == shard)
        ).scalar_one_or_none()
        if row is None or row.der is None or row.this_update is None or row.next_update is None:
            return None
        return PublishedCrl(row.number, row.this_update, row.next_update, row.der, -1)
