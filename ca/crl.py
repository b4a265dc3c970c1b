"""Certificate revocation lists (RFC 5280 §5): v2, AKI, strictly increasing CRLNumber, reasonCode and
invalidityDate per entry, signed in the HSM, verified before they are published.

A CRL is built from the whole revoked list at once. The list of revoked certificates is DER-encoded here by
hand, into one buffer: a CRL of a million entries must build in under 10 s and 300 MB (issue 14), and
neither library fits (`cryptography`'s builder is quadratic when entries are added one by one; asn1crypto
keeps an object tree per entry). The envelope's extensions are still encoded by asn1crypto, and every CRL
is parsed and its signature checked by `cryptography` before it is published.

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


def _header(tag: int, size: int) -> bytes:
    return bytes([tag]) + _length(size)


def _tlv(tag: int, content: bytes) -> bytes:
    return _header(tag, len(content)) + content


def _integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


# An entry's reasonCode extension by reason: the same bytes for every entry with that reason. RFC 5280
# §5.3.1: unspecified is omitted rather than written.
_REASON_EXTENSIONS = {
    reason.value: _tlv(0x30, _OID_REASON_CODE + _tlv(0x04, _tlv(0x0A, bytes([reason.code]))))
    for reason in RevocationReason
    if reason is not RevocationReason.UNSPECIFIED
}


def _short(tag: int, content: bytes) -> bytes:
    """A TLV whose content is under 128 octets, as every part of an entry is (the longest entry, a 20-octet
    serial with both extensions, has about 80): one length octet, no arithmetic."""
    return bytes((tag, len(content))) + content


def _generalized_time(moment: dt.datetime) -> bytes:
    m = moment.astimezone(dt.UTC)
    return b"\x18\x0f%04d%02d%02d%02d%02d%02dZ" % (m.year, m.month, m.day, m.hour, m.minute, m.second)


def _time(moment: dt.datetime) -> bytes:
    """UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5); %-formatted bytes, a quarter of
    strftime's cost, since a million entries each carry one."""
    m = moment.astimezone(dt.UTC)
    if m.year < 2050:
        return b"\x17\x0d%02d%02d%02d%02d%02d%02dZ" % (
            m.year % 100,
            m.month,
            m.day,
            m.hour,
            m.minute,
            m.second,
        )
    return _generalized_time(m)


def _serial(serial_hex: str) -> bytes:
    """The DER INTEGER of a positive serial stored as hex without leading zeros (a leading 0x00 octet when
    its first bit is set), straight from the hex."""
    content = bytes.fromhex(serial_hex if len(serial_hex) % 2 == 0 else "0" + serial_hex)
    return _short(0x02, b"\x00" + content if content[0] & 0x80 else content)


def _entry(
    serial_hex: str, revoked_at: dt.datetime | None, reason: str | None, invalidity: dt.datetime | None
) -> bytes:
    assert revoked_at is not None, "a revoked certificate has a revocation date"
    extensions = _REASON_EXTENSIONS.get(reason or "", b"")
    if invalidity is not None:
        extensions += _short(0x30, _OID_INVALIDITY_DATE + _short(0x04, _generalized_time(invalidity)))
    body = _serial(serial_hex) + _time(revoked_at)
    if extensions:
        body += _short(0x30, extensions)
    return _short(0x30, body)


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


@dataclass(frozen=True)
class _RevokedList:
    """A CRL's entries, DER one after another in one buffer (a million bytes objects would cost as much
    again in object headers), and the first ``LINT_SAMPLE`` of them for the linted copy."""

    count: int
    encoded: bytearray
    sample: bytes


def _tbs_cert_list(
    ca: CaKey,
    number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
    revoked: bytes | bytearray,
    scope: CrlScope | None,
) -> bytes:
    """The TBSCertList, joined once: each large part is copied into it, and only into it."""
    issuer = asn1_x509.Certificate.load(ca.certificate.public_bytes(serialization.Encoding.DER))
    parts: list[bytes | bytearray] = [
        _integer(1),
        _signature_algorithm(ca),
        issuer["tbs_certificate"]["subject"].dump(),
        _time(this_update),
        _time(next_update),
    ]
    if revoked:
        parts += [_header(0x30, len(revoked)), revoked]
    parts.append(_tlv(0xA0, _extensions(ca, number, scope)))
    return b"".join([_header(0x30, sum(len(part) for part in parts)), *parts])


def _revoked_entries(session: Session, ca_id: int, now: dt.datetime, scope: CrlScope | None) -> _RevokedList:
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
    encoded, sample, count = bytearray(), bytearray(), 0
    # Core rows, streamed (a server-side cursor on PostgreSQL): the ORM's yield_per took twice as long per row
    rows = session.connection().execute(query.execution_options(yield_per=20_000))
    for serial, revoked_at, reason, invalid in rows:
        entry = _entry(serial, revoked_at, reason, invalid)
        encoded += entry
        if count < LINT_SAMPLE:
            sample += entry
        count += 1
    return _RevokedList(count, encoded, bytes(sample))


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


def _linted_tbs(
    ca: CaKey, times: tuple[int, dt.datetime, dt.datetime], revoked: _RevokedList, scope: CrlScope | None
) -> bytes:
    """The TBSCertList to sign, once pkilint found no error in a copy with the sample of its entries."""
    number, this_update, next_update = times
    sample = _tbs_cert_list(ca, number, this_update, next_update, revoked.sample, scope)
    lint_crl(_tlv(0x30, sample + _signature_algorithm(ca) + _tlv(0x03, b"\x00")))
    return _tbs_cert_list(ca, number, this_update, next_update, revoked.encoded, scope)


def _signed_crl(ca: CaKey, tbs: bytes) -> bytes:
    """The HSM's signature over ``tbs``, checked with the CA's public key: the DER to publish."""
    signature = ca.token.sign(ca.key_id, tbs, ca.algorithm.default_signature)
    algorithm = _signature_algorithm(ca)
    value = _tlv(0x03, b"\x00" + signature)
    der = b"".join([_header(0x30, len(tbs) + len(algorithm) + len(value)), tbs, algorithm, value])
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
        revoked = _revoked_entries(session, ca.id, now, scope)
        entries = revoked.count
        tbs = _linted_tbs(ca, (number, now, next_update), revoked, scope)
        del revoked  # a million entries' buffer goes before the signed copy comes
        der = _signed_crl(ca, tbs)
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
