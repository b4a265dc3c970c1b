"""Lifecycle changes after issuance (Decree 68/2024): revocation, renewal and change of information.

Revocation records the reason (ca.reasons), re-signs that serial's OCSP response at once and asks for a new
CRL; a certificate is revoked once, except that keyCompromise may replace an earlier reason (RFC 5280
§5.3.1), keeping the original revocation date. Renewal issues a new certificate for the same key whose
notAfter is the old notAfter plus at most three years (never past the issuer's), once, in the old
certificate's last days (ca.renewal); the old one stays valid. Change of information issues a new certificate
with the new subject data and records the old one as revoked for the reason ``superseded``, linked to its
successor. The revocation service proper (CRL, OCSP) publishes what is recorded here.
"""

from __future__ import annotations

import datetime as dt
import json

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca import audit
from ca.authority import Authority
from ca.crl import mark_dirty
from ca.errors import InvalidRequest, NotFound, StateConflict
from ca.hsm import PublicKey
from ca.issuance import (
    IssuedCertificate,
    KeySource,
    SubjectKey,
    complete_issuance,
    prepare_issuance,
    subscriber_order,
)
from ca.ocsp import OcspResponder, forget_response
from ca.profiles import MAX_RENEWAL_YEARS, CertificateKind, SubscriberRequest, parse_request
from ca.reasons import RevocationReason
from ca.renewal import renewal_not_after
from ca.store import SERVICE_SEAL_SETTING, CaSetting, CertificateRecord, certificate_by_serial, utc_now

__all__ = [
    "certificates_sharing_the_key",
    "change_information",
    "find_certificate",
    "renew_certificate",
    "revoke_certificate",
]


def find_certificate(session: Session, serial: str) -> CertificateRecord:
    try:
        record = certificate_by_serial(session, serial)
    except ValueError as error:
        raise InvalidRequest(str(error)) from None
    if record is None:
        raise NotFound(f"no certificate with serial {serial}")
    return record


def _existing_key(record: CertificateRecord) -> SubjectKey:
    public_key = x509.load_der_x509_certificate(record.der).public_key()
    assert isinstance(public_key, PublicKey)
    key_id = bytes.fromhex(record.key_id) if record.key_id else None
    return SubjectKey("hsm" if record.key_origin == "hsm" else "csr", public_key, key_id, record.token_label)


def _usable_subscriber_certificate(authority: Authority, serial: str, action: str) -> CertificateRecord:
    with authority.database.transaction() as session:
        record = find_certificate(session, serial)
        seal = session.get(CaSetting, SERVICE_SEAL_SETTING)
    if not CertificateKind(record.profile).is_subscriber:
        raise StateConflict(
            f"certificate {record.serial} is a {record.profile} certificate; {action} it by ceremony"
        )
    if seal is not None and seal.value == record.serial:  # an organisation certificate, but the service's own
        raise StateConflict(
            f"certificate {record.serial} is the service's own seal: `govsign ca rollover seal` replaces it"
        )
    if record.status == "revoked":
        raise StateConflict(
            f"certificate {record.serial} is revoked ({record.revocation_reason}); it cannot be {action}d"
        )
    if record.not_after <= utc_now():
        raise StateConflict(
            f"certificate {record.serial} expired on {record.not_after:%Y-%m-%d}; issue a new one"
        )
    return record


def renew_certificate(
    authority: Authority, serial: str, *, actor: str, years: int = MAX_RENEWAL_YEARS
) -> IssuedCertificate:
    """A new certificate for the same key and subject, valid until the old notAfter plus ``years`` (at most 3),
    for a certificate in its renewal window that was not renewed before (ca.renewal)."""
    old = _usable_subscriber_certificate(authority, serial, "renew")
    kind = CertificateKind(old.profile)
    request = parse_request(kind.value, json.loads(old.request_json))
    issuer_end = authority.issuing_ca().certificate.not_valid_after_utc
    with authority.database.transaction() as session:
        not_after = renewal_not_after(
            session,
            old,
            years=years,
            window_days=authority.options.renewal_window_days,
            issuer_not_after=issuer_end,
            now=utc_now(),
        )
    key = _existing_key(old)
    order = subscriber_order(
        authority, kind, request, key_in_hsm=key.origin == "hsm", not_after=not_after, renewal_of_id=old.id
    )
    prepared = prepare_issuance(authority, order, key, actor=actor)
    return complete_issuance(authority, prepared, actor=actor)


def change_information(
    authority: Authority, serial: str, request: SubscriberRequest, *, actor: str, key: KeySource | None = None
) -> IssuedCertificate:
    """Issue a certificate with the new subject data and revoke the old one as superseded.

    The subscriber keeps their key unless ``key`` says otherwise (a new CSR, or a new pair in the HSM).
    The other valid certificates of the old key (a renewal, or the certificate it renewed, which stays valid)
    carry the old information too, and are superseded with it.
    """
    old = _usable_subscriber_certificate(authority, serial, "change")
    siblings = certificates_sharing_the_key(authority, serial)
    kind = CertificateKind(old.profile)
    subject_key = key or _existing_key(old)
    key_in_hsm = not isinstance(subject_key, SubjectKey) or subject_key.origin == "hsm"
    order = subscriber_order(authority, kind, request, key_in_hsm=key_in_hsm)
    issued = complete_issuance(
        authority, prepare_issuance(authority, order, subject_key, actor=actor), actor=actor
    )
    for superseded in (old.serial, *siblings):
        revoke_certificate(
            authority, superseded, RevocationReason.SUPERSEDED, actor=actor, successor_id=issued.record_id
        )
    return issued


def certificates_sharing_the_key(authority: Authority, serial: str) -> list[str]:
    """The other valid certificates that carry certificate ``serial``'s key (a renewal and the certificate
    it renewed share it)."""
    with authority.database.transaction() as session:
        return _other_valid_certificates_of_the_key(session, find_certificate(session, serial))


def revoke_certificate(
    authority: Authority,
    serial: str,
    reason: RevocationReason,
    *,
    actor: str,
    invalidity_date: dt.datetime | None = None,
    successor_id: int | None = None,
    responder: OcspResponder | None = None,
) -> CertificateRecord:
    """Record the revocation, re-sign the serial's OCSP response, schedule the CRL, audit; return the record.

    Revoking again is refused and changes nothing, unless the new reason is keyCompromise and the old one
    was not. ``responder`` is the caller's OCSP responder, whose cache then changes at once.
    """
    now = utc_now().replace(microsecond=0)
    if invalidity_date is not None and invalidity_date > now:
        raise InvalidRequest("invalidity_date: the key cannot have become invalid in the future")
    with authority.database.transaction() as session:
        record = find_certificate(session, serial)
        session.refresh(record, with_for_update=True)
        previous = record.revocation_reason
        if record.status == "revoked":
            if reason is not RevocationReason.KEY_COMPROMISE or previous == reason.value:
                raise StateConflict(
                    f"certificate {record.serial} was already revoked on {record.revoked_at:%Y-%m-%d %H:%M} UTC "
                    f"({previous}); only keyCompromise may replace an earlier reason"
                )
        else:
            record.revoked_at = now
        record.status = "revoked"
        record.revocation_reason = reason.value
        record.invalidity_date = invalidity_date or record.invalidity_date
        if successor_id is not None:
            record.superseded_by_id = successor_id
        mark_dirty(session, record.issuer_id, record.crl_shard)
        forget_response(session, record)
        audit.append(
            session,
            authority.token,
            audit.AuditEvent(
                actor=actor,
                action="certificate.revoke",
                object=f"certificate:{record.serial}",
                details={
                    "reason": reason.value,
                    "previous_reason": previous,
                    "invalidity_date": invalidity_date.isoformat() if invalidity_date else None,
                    "successor_id": successor_id,
                },
            ),
        )
        _shred_key_if_ended(session, authority, record, reason, actor)
        siblings = (
            _other_valid_certificates_of_the_key(session, record)
            if reason is RevocationReason.KEY_COMPROMISE
            else []
        )
    (responder or OcspResponder(authority)).resign_now(record)
    for sibling in siblings:  # a compromised key is compromised under every serial it carries
        revoke_certificate(
            authority, sibling, reason, actor=actor, invalidity_date=invalidity_date, responder=responder
        )
    return record


def _other_valid_certificates_of_the_key(session: Session, record: CertificateRecord) -> list[str]:
    if record.key_id is None:
        return []
    return list(
        session.scalars(
            select(CertificateRecord.serial).where(
                CertificateRecord.key_id == record.key_id,
                CertificateRecord.status == "valid",
                CertificateRecord.id != record.id,
            )
        )
    )


# Reasons after which the key has no lawful use left: compromised, the holder gone (retired, resigned,
# died, moved) or the certificate's information no longer true.
_KEY_ENDING_REASONS = {
    RevocationReason.KEY_COMPROMISE,
    RevocationReason.AFFILIATION_CHANGED,
    RevocationReason.CESSATION_OF_OPERATION,
    RevocationReason.SUPERSEDED,
}


def _shred_key_if_ended(
    session: Session, authority: Authority, record: CertificateRecord, reason: RevocationReason, actor: str
) -> None:
    """Crypto-shredding (docs/SOLE-CONTROL.md): destroy the holder's sealed key in the revocation's own
    transaction, so that nobody can sign with it afterwards. A key that a renewed, still valid certificate
    also carries is kept unless it is compromised."""
    if reason not in _KEY_ENDING_REASONS or record.key_id is None or authority.activation is None:
        return
    if reason is not RevocationReason.KEY_COMPROMISE:
        sharing = session.execute(
            select(CertificateRecord.id).where(
                CertificateRecord.key_id == record.key_id,
                CertificateRecord.status == "valid",
                CertificateRecord.id != record.id,
            )
        ).first()
        if sharing is not None:
            return
    authority.activation.destroy(session, record.key_id, reason=reason.value, actor=actor)
