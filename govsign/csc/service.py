"""The CSC operations, one function each, whatever the API version that asked.

A signing account has exactly one credential: the key of its certificate, named by the activation
module's ``key_id``. Every operation first resolves the caller's own credential and refuses any other ID
as unknown (another official's credential is answered exactly like one that does not exist). Signing
goes through the activation module only (docs/SOLE-CONTROL.md, steps C and D): ``authorize`` turns the
holder's PIN (and TOTP code, where the holder enrolled one) into a SAD for exactly the hashes given
(SCAL 2), ``sign_hashes`` spends it. Both are audited by the module with the hashes, under the account's
actor name.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.activation import MAX_HASHES, CredentialState, GrantKind
from ca.authority import Authority
from ca.errors import NotFound
from ca.hsm import KeyAlgorithm
from ca.revocation import find_certificate
from ca.signing_keys import SubscriberKey, subscriber_key
from ca.store import utc_now
from govsign.access.accounts import Account
from govsign.access.second_factor import check_otp, has_second_factor
from govsign.csc.algorithms import KeyDescription, describe_key, hash_name, signature_algorithm
from govsign.csc.errors import CscError, CscProblem

__all__ = [
    "Authorization",
    "CertificateSelection",
    "CredentialDescription",
    "HashSigning",
    "IssuedSad",
    "authorize",
    "decode_base64",
    "describe_credential",
    "list_credentials",
    "sign_hashes",
]

CertificateStatus = Literal["valid", "expired", "revoked"]


class CertificateSelection(StrEnum):
    NONE = "none"
    SINGLE = "single"  # the signer's certificate
    CHAIN = "chain"  # the signer's, the issuing CA's and the root's


@dataclass(frozen=True)
class CredentialDescription:
    """What credentials/info tells about the caller's credential (each version shapes it its own way)."""

    credential_id: str
    enabled: bool
    key: KeyDescription
    certificate_status: CertificateStatus
    certificates: tuple[bytes, ...]  # DER, signer first, as ``CertificateSelection`` asked
    issuer_dn: str
    serial_number: str  # hex, upper case
    subject_dn: str
    valid_from: str  # GeneralizedTime, YYYYMMDDHHmmssZ
    valid_to: str
    otp_required: bool
    multisign: int = MAX_HASHES


@dataclass(frozen=True)
class Authorization:
    """credentials/authorize: the holder's activation data for exactly these hashes."""

    credential_id: str
    num_signatures: int
    hashes: tuple[bytes, ...]
    hash_oid: str | None
    pin: str | None
    otp: str | None


@dataclass(frozen=True)
class IssuedSad:
    sad: str
    expires_in: int  # seconds


@dataclass(frozen=True)
class HashSigning:
    """signatures/signHash: the SAD, the hashes it covers, and the scheme to sign them with."""

    credential_id: str
    sad: str
    hashes: tuple[bytes, ...]
    hash_oid: str | None
    sign_oid: str
    sign_params: bytes | None  # DER, e.g. RSASSA-PSS-params


def decode_base64(values: Sequence[str], what: str) -> tuple[bytes, ...]:
    """Base64 (standard or URL-safe alphabet) as clients send hashes and parameters."""
    decoded = []
    for value in values:
        try:
            decoded.append(base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True))
        except (binascii.Error, ValueError):
            raise CscError(CscProblem.INVALID_REQUEST, f"Invalid Base64 {what} string parameter") from None
    return tuple(decoded)


def list_credentials(authority: Authority, account: Account) -> list[str]:
    """The caller's own credential, if its certificate's key is one the activation module holds."""
    with authority.database.transaction() as session:
        key_id = find_certificate(session, account.certificate_serial).key_id
    if key_id is None:
        return []
    try:
        authority.activation_module().status(key_id)
    except NotFound:
        return []
    return [key_id]


def describe_credential(
    authority: Authority, account: Account, credential_id: str, selection: CertificateSelection
) -> CredentialDescription:
    with authority.database.transaction() as session:
        record = find_certificate(session, account.certificate_serial)
        key_id, revoked, der = record.key_id, record.status == "revoked", record.der
    if key_id is None or key_id != credential_id:
        raise _unknown_credential()
    try:
        status = authority.activation_module().status(key_id)
    except NotFound:
        raise _unknown_credential() from None
    certificate = x509.load_der_x509_certificate(der)
    now = utc_now()
    certificate_status: CertificateStatus = (
        "revoked" if revoked else "expired" if now > certificate.not_valid_after_utc else "valid"
    )
    usable_now = certificate.not_valid_before_utc <= now and certificate_status == "valid"
    chain = [certificate, *authority.chain_of(certificate)]
    count = {CertificateSelection.NONE: 0, CertificateSelection.SINGLE: 1}.get(selection, len(chain))
    return CredentialDescription(
        credential_id=key_id,
        enabled=usable_now and status.state is CredentialState.ACTIVE and not status.locked,
        key=describe_key(KeyAlgorithm.of(certificate.public_key())),
        certificate_status=certificate_status,
        certificates=tuple(c.public_bytes(Encoding.DER) for c in chain[:count]),
        issuer_dn=certificate.issuer.rfc4514_string(),
        serial_number=f"{certificate.serial_number:X}",
        subject_dn=certificate.subject.rfc4514_string(),
        valid_from=_generalized_time(certificate.not_valid_before_utc),
        valid_to=_generalized_time(certificate.not_valid_after_utc),
        otp_required=has_second_factor(authority, account),
    )


def authorize(authority: Authority, account: Account, request: Authorization, *, actor: str) -> IssuedSad:
    """The holder's PIN (and OTP) opens their key for exactly ``request.hashes``, once, for 5 minutes."""
    key = _own_key(authority, account, request.credential_id)
    if not request.hashes:
        raise CscError(
            CscProblem.INVALID_REQUEST,
            "Missing (or invalid type) array parameter hashes: this service is SCAL 2, a SAD names its hashes",
        )
    if request.num_signatures > MAX_HASHES:
        raise CscError(
            CscProblem.INVALID_REQUEST, f"Numbers of signatures is too high (at most {MAX_HASHES})"
        )
    if request.num_signatures != len(request.hashes):
        raise CscError(
            CscProblem.INVALID_REQUEST,
            f"Invalid value for parameter numSignatures: {request.num_signatures} signatures for "
            f"{len(request.hashes)} hashes",
        )
    algorithm = hash_name(request.hash_oid, request.hashes)
    if not request.pin:  # forgotten, not guessed: no attempt is spent
        raise CscError(CscProblem.INVALID_REQUEST, "Missing (or invalid type) string parameter PIN")
    check_otp(authority, account, request.otp, actor=actor)
    grant = authority.activation_module().authorize(
        key.key_id, request.pin, request.hashes, kind=GrantKind.HASHES, hash_algorithm=algorithm, actor=actor
    )
    return IssuedSad(grant.sad, max(1, int((grant.expires_at - utc_now()).total_seconds())))


def sign_hashes(authority: Authority, account: Account, request: HashSigning, *, actor: str) -> list[bytes]:
    """Raw signatures of ``request.hashes``, in order, if the SAD covers every one of them."""
    key = _own_key(authority, account, request.credential_id)
    scheme = signature_algorithm(key.algorithm, request.sign_oid, request.hash_oid, request.sign_params)
    return authority.activation_module().sign_hashes(
        key.key_id, request.sad, request.hashes, scheme, actor=actor
    )


def _own_key(authority: Authority, account: Account, credential_id: str) -> SubscriberKey:
    """The caller's key if ``credential_id`` names it (and its certificate may sign now)."""
    key = subscriber_key(authority, account.certificate_serial)
    if key.key_id != credential_id or not key.held:
        raise _unknown_credential()
    return key


def _unknown_credential() -> CscError:
    return CscError(CscProblem.INVALID_CREDENTIAL, "no such credential for this account")


def _generalized_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")
