"""Subscriber keys as signers: the one door through which `signing` uses a key that lives in our HSM.

The signing service never sees a token, a key handle or a table; it asks for the key of a certificate
serial and gets an object that describes it. That object signs only once the holder's activation data
opened it (:func:`activate_for_documents`, the signature activation module's document grant): each
approved document gets one signature and no other. The only key that signs without a holder is the
service's own seal, made at the ceremony to seal the reports the service hands out.

The door checks what a relying party would later check, so a signature that could never validate is
never made: the certificate must be one of ours, valid now (not expired, not yet valid or revoked),
issued for signing, and its key must be in the HSM.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509
from sqlalchemy import select

from ca.activation import ActivationError, Grant, GrantKind, SigningCredential
from ca.authority import Authority
from ca.errors import InvalidRequest, StateConflict
from ca.hsm import KeyAlgorithm, SignatureAlgorithm
from ca.profiles import CertificateKind
from ca.revocation import find_certificate
from ca.store import SERVICE_SEAL_SETTING, CaSetting, utc_now

__all__ = [
    "SERVICE_SEAL_SETTING",
    "DocumentActivation",
    "SubscriberKey",
    "activate_for_documents",
    "key_for_document",
    "service_seal_key",
    "subscriber_key",
]

_SIGNING_KINDS = {CertificateKind.INDIVIDUAL, CertificateKind.ORGANISATION, CertificateKind.DEVICE}
RawSigner = Callable[[bytes, SignatureAlgorithm], bytes]


@dataclass(frozen=True)
class SubscriberKey:
    """A subscriber certificate, its chain up to our root, and (once activated) a way to sign with its key."""

    serial: str
    kind: CertificateKind
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # its own issuing CA first (of any generation), root last
    algorithm: KeyAlgorithm
    key_id: str
    held: bool  # a holder's key behind the activation module (False: the service's own seal)
    document_sha256: bytes | None = None  # the one document this activated key may sign
    _signer: RawSigner | None = field(default=None, repr=False, compare=False)

    def sign(self, data: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign ``data`` (hashed with the algorithm's hash) with the key, if its holder activated it."""
        if self._signer is None:
            raise ActivationError(
                f"certificate {self.serial}'s key signs only with its holder's activation (PIN)"
            )
        return self._signer(data, algorithm)


@dataclass(frozen=True)
class DocumentActivation:
    """The holder's grant for a list of documents: each becomes a key that signs that document once."""

    authority: Authority
    key: SubscriberKey
    grant: Grant
    actor: str

    def key_for(self, document_sha256: bytes) -> SubscriberKey:
        return key_for_document(self.authority, self.key, self.grant.sad, document_sha256, actor=self.actor)


def key_for_document(
    authority: Authority, key: SubscriberKey, sad: str, document_sha256: bytes, *, actor: str
) -> SubscriberKey:
    """``key`` signing through the activation module with the holder's SAD, for one approved document
    (what a batch worker, which receives only the SAD, builds for each of its documents)."""
    module = authority.activation_module()

    def sign(data: bytes, algorithm: SignatureAlgorithm) -> bytes:
        digest = hashlib.new(algorithm.hash, data).digest()
        return module.sign_document(key.key_id, sad, document_sha256, digest, algorithm, actor=actor)

    return replace(key, document_sha256=document_sha256, _signer=sign)


def subscriber_key(authority: Authority, serial: str, *, at: dt.datetime | None = None) -> SubscriberKey:
    """The signing key of certificate ``serial``, if it may sign at ``at`` (default: now); not yet activated.

    Raises NotFound for an unknown serial, InvalidRequest for a certificate that is not a subscriber's
    signing certificate or whose key is not in our HSM, StateConflict for one that is revoked, expired or
    not yet valid.
    """
    moment = at or utc_now()
    with authority.database.reading() as session:
        record = find_certificate(session, serial)
        credential = (
            None
            if record.key_id is None
            else session.execute(
                select(SigningCredential.id).where(SigningCredential.key_id == record.key_id)
            ).scalar_one_or_none()
        )
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
    return SubscriberKey(
        serial=record.serial,
        kind=kind,
        certificate=certificate,
        chain=tuple(authority.chain_of(certificate)),
        algorithm=KeyAlgorithm.of(certificate.public_key()),
        key_id=record.key_id,
        held=credential is not None,
    )


def activate_for_documents(
    authority: Authority,
    key: SubscriberKey,
    pin: str,
    documents: Sequence[bytes],
    *,
    actor: str,
    client: str = "",
) -> DocumentActivation:
    """The holder's PIN opens ``key`` for exactly these documents (SHA-256 of each), once each, for five
    minutes (steps C1-C3 of docs/SOLE-CONTROL.md)."""
    if not key.held:
        raise StateConflict(
            f"the key of certificate {key.serial} predates sole control (a token object that no PIN "
            "protects) and does not sign: re-key it with `govsign keys migrate`"
        )
    grant = authority.activation_module().authorize(
        key.key_id,
        pin,
        documents,
        kind=GrantKind.DOCUMENTS,
        hash_algorithm="sha256",
        actor=actor,
        client=client,
    )
    return DocumentActivation(authority, key, grant, actor)


def service_seal_key(authority: Authority) -> SubscriberKey | None:
    """The service's own seal (issued at the ceremony), which signs the validation reports; None for a
    deployment made before the ceremony recorded it. The one key that signs with no holder."""
    with authority.database.transaction() as session:
        setting = session.get(CaSetting, SERVICE_SEAL_SETTING)
        serial = setting.value if setting is not None else None
    if not serial:
        return None
    key = subscriber_key(authority, serial)
    token, key_id = authority.token, bytes.fromhex(key.key_id)
    return replace(key, _signer=lambda data, algorithm: token.sign(key_id, data, algorithm))
