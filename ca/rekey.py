"""Moving a deployment's older subscriber keys under sole control: re-keying, since they cannot be wrapped.

Before the signature activation module, subscriber keys were persistent objects of the service token,
generated with CKA_EXTRACTABLE false; PKCS #11 never lets that attribute become true again, so such a key
can never be wrapped (docs/SOLE-CONTROL.md, "Existing deployments"). Each one is therefore replaced: a
certificate for the same subject and the same end date with a new key made by the module for the same
holder (who chooses a PIN with the new set-up code), the old certificate revoked as superseded, and the
old token object destroyed. Until then such a key does not sign.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from ca.activation import SigningCredential
from ca.authority import Authority
from ca.errors import StateConflict
from ca.hsm import KeyAlgorithm
from ca.issuance import GenerateInHsm, IssuedCertificate, complete_issuance, prepare_issuance
from ca.orders import subscriber_order
from ca.profiles import CertificateKind, parse_request
from ca.reasons import RevocationReason
from ca.revocation import find_certificate, revoke_certificate
from ca.signing_keys import SERVICE_SEAL_SETTING
from ca.store import CaSetting, CertificateRecord

__all__ = ["Rekeyed", "legacy_subscriber_keys", "rekey_for_sole_control"]

_SUBSCRIBER_PROFILES = [
    kind.value for kind in (CertificateKind.INDIVIDUAL, CertificateKind.ORGANISATION, CertificateKind.DEVICE)
]


@dataclass(frozen=True)
class Rekeyed:
    old_serial: str
    issued: IssuedCertificate  # carries the holder's new set-up code


def legacy_subscriber_keys(authority: Authority) -> list[str]:
    """Serials of valid subscriber certificates whose key is a token object no PIN protects."""
    with authority.database.transaction() as session:
        seal = session.get(CaSetting, SERVICE_SEAL_SETTING)
        wrapped = select(SigningCredential.key_id)
        return list(
            session.scalars(
                select(CertificateRecord.serial)
                .where(
                    CertificateRecord.status == "valid",
                    CertificateRecord.key_origin == "hsm",
                    CertificateRecord.key_id.is_not(None),
                    CertificateRecord.key_id.not_in(wrapped),
                    CertificateRecord.profile.in_(_SUBSCRIBER_PROFILES),
                    CertificateRecord.serial != (seal.value if seal is not None else ""),
                )
                .order_by(CertificateRecord.id)
            )
        )


def rekey_for_sole_control(authority: Authority, serial: str, *, actor: str) -> Rekeyed:
    """Replace one legacy key: new certificate (same subject, same end) with a held key; the old one
    revoked as superseded and its token object destroyed."""
    if serial not in legacy_subscriber_keys(authority):
        raise StateConflict(f"certificate {serial} is not a valid certificate with a legacy key in the token")
    with authority.database.transaction() as session:
        old = find_certificate(session, serial)
        kind, request_json, not_after, key_id = (
            CertificateKind(old.profile),
            old.request_json,
            old.not_after,
            old.key_id,
        )
        algorithm = KeyAlgorithm.of(authority.token.public_key(bytes.fromhex(key_id or "")))
    request = parse_request(kind.value, json.loads(request_json))
    order = subscriber_order(authority, kind, request, key_in_hsm=True, not_after=not_after)
    issued = complete_issuance(
        authority, prepare_issuance(authority, order, GenerateInHsm(algorithm), actor=actor), actor=actor
    )
    revoke_certificate(
        authority, serial, RevocationReason.SUPERSEDED, actor=actor, successor_id=issued.record_id
    )
    authority.token.destroy_key_pair(bytes.fromhex(key_id or ""))
    return Rekeyed(serial, issued)
