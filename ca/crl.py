"""Certificate revocation lists (RFC 5280 §5): v2, AKI, strictly increasing CRLNumber, reasonCode and
invalidityDate per entry, signed in the HSM, verified before they are published.

A CRL is built from the whole revoked list at once. The list of revoked certificates is DER-encoded here by
hand: a CRL of a million entries must build in under a minute and a gigabyte, and neither library fits
(`cryptography`'s builder is quadratic when entries are added one by one; asn1crypto keeps an object tree
per entry). The envelope's extensions are still encoded by asn1crypto, and every CRL is parsed and its
signature checked by `cryptography` before it is published.

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
from dataclasses import dataclass

from asn1crypto import algos, core
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ca import audit
from ca.authority import CaKey
from ca.errors import HsmError
from ca.hsm import Token
from ca.lint import lint_crl
from ca.reasons import RevocationReason
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
_OID_REASON_CODE = bytes.fromhex("0603551d15")
_OID_INVALIDITY_DATE = bytes.fromhex("0603551d18")
LINT_SAMPLE = 100


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


# -- a little DER, for the entries only -------------------------------------------------------------------


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _generalized_time(moment: dt.datetime) -> bytes:
    return _tlv(0x18, moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _time(moment: dt.datetime) -> bytes:
    """UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5)."""
    moment = moment.astimezone(dt.UTC)
    if moment.year < 2050:
        return _tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return _generalized_time(moment)


def _entry(
    serial: int, revoked_at: dt.datetime | None, reason: str | None, invalidity: dt.datetime | None
) -> bytes:
    assert revoked_at is not None, "a revoked certificate has a revocation date"
    extensions = b""
    if reason and reason != RevocationReason.UNSPECIFIED:  # RFC 5280 §5.3.1: omit rather than unspecified
        code = RevocationReason(reason).code
        extensions += _tlv(0x30, _OID_REASON_CODE + _tlv(0x04, _tlv(0x0A, bytes([code]))))
    if invalidity is not None:
        extensions += _tlv(0x30, _OID_INVALIDITY_DATE + _tlv(0x04, _generalized_time(invalidity)))
    body = _integer(serial) + _time(revoked_at)
    if extensions:
        body += _tlv(0x30, extensions)
    return _tlv(0x30, body)


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


def _tbs_cert_list(
    ca: CaKey,
    number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
    entries: list[bytes],
    scope: CrlScope | None,
) -> bytes:
    issuer = asn1_x509.Certificate.load(ca.certificate.public_bytes(serialization.Encoding.DER))
    extensions = _extensions(ca, number, scope)
    body = (
        _integer(1)
        + _signature_algorithm(ca)
        + issuer["tbs_certificate"]["subject"].dump()
        + _time(this_update)
        + _time(next_update)
        + (_tlv(0x30, b"".join(entries)) if entries else b"")
        + _tlv(0xA0, extensions)
    )
    return _tlv(0x30, body)


def _revoked_entries(session: Session, ca_id: int, now: dt.datetime, scope: CrlScope | None) -> list[bytes]:
    """Entries for every revoked, unexpired certificate of ``ca_id`` in ``scope`` (expired ones may leave,
    RFC 5280 §3.3)."""
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
    rows = session.execute(query.execution_options(yield_per=20_000))
    return [
        _entry(int(serial, 16), revoked_at, reason, invalid) for serial, revoked_at, reason, invalid in rows
    ]


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


def _signed_crl(
    ca: CaKey, tbs_parts: tuple[int, dt.datetime, dt.datetime], entries: list[bytes], scope: CrlScope | None
) -> bytes:
    """Lint a sample copy, have the HSM sign the whole, check the signature: the DER to publish."""
    number, this_update, next_update = tbs_parts
    algorithm = _signature_algorithm(ca)
    sample = _tbs_cert_list(ca, number, this_update, next_update, entries[:LINT_SAMPLE], scope)
    lint_crl(_tlv(0x30, sample + algorithm + _tlv(0x03, b"\x00")))
    tbs = _tbs_cert_list(ca, number, this_update, next_update, entries, scope)
    signature = ca.token.sign(ca.key_id, tbs, ca.algorithm.default_signature)
    der = _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    if not x509.load_der_x509_crl(der).is_signature_valid(ca.certificate.public_key()):  # type: ignore[arg-type]
        raise HsmError(f"the CRL signed for {ca.name} does not verify with the CA's key; not published")
    return der


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
        entries = _revoked_entries(session, ca.id, now, scope)
        der = _signed_crl(ca, (number, now, next_update), entries, scope)
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
                details={"entries": len(entries), "next_update": next_update.isoformat()},
            ),
        )
    return PublishedCrl(number, now, next_update, der, len(entries))


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
            select(CrlState).join(CaRecord, CaRecord.id == CrlState.ca_id).where(CaRecord.name == ca_name)
        ).scalar_one_or_none()
        if row is None or row.der is None or row.this_update is None or row.next_update is None:
            return None
        return PublishedCrl(row.number, row.this_update, row.next_update, row.der, -1)


def published_shard(database: Database, ca_name: str, shard: int) -> PublishedCrl | None:
    """The newest published CRL of one shard of the CA called ``ca_name`` (/pki/crl/{name}/{shard}.crl)."""
    with database.reading() as session:
        row = session.execute(
            select(CrlShard)
            .join(CaRecord, CaRecord.id == CrlShard.ca_id)
            .where(CaRecord.name == ca_name, CrlShard.shard == shard)
        ).scalar_one_or_none()
        if row is None or row.der is None or row.this_update is None or row.next_update is None:
            return None
        return PublishedCrl(row.number, row.this_update, row.next_update, row.der, -1)
