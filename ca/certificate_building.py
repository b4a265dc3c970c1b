"""The building blocks of issuance, each a pure step with a test of its own (docs/ISSUANCE-CYCLE.md).

`cryptography`'s builders cannot sign with a PKCS#11 key, so the certificate is built and signed with a
throwaway key of the issuer's key family (the TBS then names the right signature algorithm); the real
certificate is assembled with asn1crypto from exactly those TBS bytes and the HSM's signature, and checked
against the issuer's public key before anything stores it.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import threading
from collections.abc import Sequence
from typing import Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca.authority import CaKey
from ca.errors import HsmError
from ca.hsm import HashName, KeyAlgorithm, PublicKey
from ca.profiles import Extension

__all__ = ["assemble_certificate", "build_tbs", "random_serial", "sign_tbs"]

_HASHES: dict[HashName, hashes.SHA256 | hashes.SHA384 | hashes.SHA512] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def random_serial() -> int:
    """128 bits from the CSPRNG, positive, at least 2^64 (RFC 5280 §4.1.2.2, CA/B Forum's 64-bit floor)."""
    while True:
        serial = secrets.randbits(128)
        if serial >= 1 << 64:
            return serial


_throwaway_lock = threading.Lock()


@functools.cache
def _throwaway_key(family: Literal["rsa", "ec"]) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """A per-process key that signs only lint copies; the TBS it yields names the issuer's algorithm."""
    if family == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def build_tbs(
    *,
    subject: x509.Name,
    public_key: PublicKey,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    extensions: Sequence[Extension],
    issuer_name: x509.Name,
    issuer_key_identifier: bytes | None,
    issuer_algorithm: KeyAlgorithm,
) -> tuple[bytes, bytes]:
    """Build the certificate; return (DER of a throwaway-signed copy for linting, the TBS bytes to sign)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer_key_identifier is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(issuer_key_identifier, None, None), critical=False
        )
    for extension in extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    with _throwaway_lock:
        throwaway = _throwaway_key("rsa" if issuer_algorithm.is_rsa else "ec")
    lint_copy = builder.sign(throwaway, _HASHES[issuer_algorithm.default_signature.hash])
    return lint_copy.public_bytes(serialization.Encoding.DER), lint_copy.tbs_certificate_bytes


def assemble_certificate(tbs: bytes, signature: bytes) -> x509.Certificate:
    """Splice the HSM's signature onto exactly the TBS bytes that were linted."""
    tbs_certificate = asn1_x509.TbsCertificate.load(tbs)
    der = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs_certificate,
            "signature_algorithm": tbs_certificate["signature"],
            "signature_value": signature,
        }
    ).dump()
    certificate = x509.load_der_x509_certificate(der)
    if certificate.tbs_certificate_bytes != tbs:
        raise HsmError("the assembled certificate does not carry the linted TBS bytes")
    return certificate


def sign_tbs(signer: CaKey, tbs: bytes, issuer_certificate: x509.Certificate) -> x509.Certificate:
    """Have the HSM sign ``tbs`` with ``signer``'s key and check the result against the issuer's public key."""
    signature = signer.token.sign(signer.key_id, tbs, signer.algorithm.default_signature)
    certificate = assemble_certificate(tbs, signature)
    try:
        certificate.verify_directly_issued_by(issuer_certificate)
    except (InvalidSignature, ValueError, TypeError) as error:
        raise HsmError(f"the HSM's signature does not verify with the issuer's key: {error}") from error
    return certificate
