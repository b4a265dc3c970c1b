"""Subscriber keys as signers: the one door through which `signing` uses a key that lives in our HSM.

The signing service never sees a token, a key handle or a table; it asks for the key of a certificate
serial and gets an object that signs bytes with it. The door checks what a relying party would later
check, so a signature that could never validate is never made: the certificate must be one of ours,
valid now (not expired, not yet valid or revoked), issued for signing, and its key must be in the HSM.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509

from ca.authority import Authority
from ca.errors import InvalidRequest, StateConflict
from ca.hsm import KeyAlgorithm, SignatureAlgorithm, Token
from ca.profiles import CertificateKind
from ca.revocation import find_certificate
from ca.store import CaSetting, utc_now

__all__ = ["SERVICE_SEAL_SETTING", "SubscriberKey", "service_seal_key", "subscriber_key"]

SERVICE_SEAL_SETTING = "service_seal_serial"  # the ceremony's own organisation certificate

_SIGNING_KINDS = {CertificateKind.INDIVIDUAL, CertificateKind.ORGANISATION, CertificateKind.DEVICE}


@dataclass(frozen=True)
class SubscriberKey:
    """A subscriber certificate, its chain up to our root, and its private key in the HSM."""

    serial: str
    kind: CertificateKind
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuing CA first, root last
    algorithm: KeyAlgorithm
    _token: Token = field(repr=False)
    _key_id: bytes = field(repr=False)

    def sign(self, data: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign ``data`` (hashed with the algorithm's hash inside this call) with the key in the HSM."""
        return self._token.sign(self._key_id, data, algorithm)


def subscriber_key(authority: Authority, serial: str, *, at: dt.datetime | None = None) -> SubscriberKey:
    """The signing key of certificate ``serial``, if it may sign at ``at`` (default: now).

    Raises NotFound for an unknown serial, InvalidRequest for a certificate that is not a subscriber's
    signing certificate or whose key is not in our HSM, StateConflict for one that is revoked, expired or
    not yet valid.
    """
    moment = at or utc_now()
    with authority.database.transaction() as session:
        record = find_certificate(session, serial)
    kind = CertificateKind(record.profile)
    if kind not in _SIGNING_KINDS:
        raise InvalidRequest(
            f"certificate {record.serial} is a {record.profile} certificate, not for signing"
        )
    if record.key_origin != "hsm" or record.key_id is None:
        raise InvalidRequest(
            f"the key of certificate {record.serial} came with a CSR and is not in this HSM; "
            "sign with the holder's own device"
        )
    if record.status == "revoked":
        raise StateConflict(
            f"certificate {record.serial} was revoked ({record.revocation_reason}) "
            f"on {record.revoked_at:%Y-%m-%d}; it can no longer sign"
        )
    if moment < record.not_before:
        raise StateConflict(f"certificate {record.serial} is not valid before {record.not_before:%Y-%m-%d}")
    if moment > record.not_after:
        raise StateConflict(f"certificate {record.serial} expired on {record.not_after:%Y-%m-%d}")
    certificate = x509.load_der_x509_certificate(record.der)
    public_key = certificate.public_key()
    return SubscriberKey(
        serial=record.serial,
        kind=kind,
        certificate=certificate,
        chain=tuple(authority.chain()),
        algorithm=KeyAlgorithm.of(public_key),
        _token=authority.token,
        _key_id=bytes.fromhex(record.key_id),
    )


def service_seal_key(authority: Authority) -> SubscriberKey | None:
    """The service's own seal (issued at the ceremony), which signs the validation reports; None for a
    deployment made before the ceremony recorded it."""
    with authority.database.transaction() as session:
        setting = session.get(CaSetting, SERVICE_SEAL_SETTING)
        serial = setting.value if setting is not None else None
    return subscriber_key(authority, serial) if serial else None
