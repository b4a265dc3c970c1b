"""Checks on subscriber public keys and PKCS#10 requests (Circular 15/2025 algorithms, RFC 2986).

Refused: RSA below 2048 bits, an RSA exponent other than 65537, moduli that Fermat's method factors at once
(primes too close together, as in CVE-2022-26320), EC curves below P-256, other key types, CSRs whose
self-signature does not verify or is made with SHA-1 or MD5, CSRs whose version is not v1 (RFC 2986 §4.1).
"""

from __future__ import annotations

import math

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca.errors import InvalidRequest
from ca.hsm import PublicKey

__all__ = ["check_public_key", "public_key_from_csr"]

_FERMAT_ROUNDS = 100
_ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_WEAK_HASHES = (hashes.SHA1, hashes.MD5)


def _fermat_factorable(modulus: int) -> bool:
    a = math.isqrt(modulus)
    if a * a < modulus:
        a += 1
    for _ in range(_FERMAT_ROUNDS):
        b_squared = a * a - modulus
        b = math.isqrt(b_squared)
        if b * b == b_squared:
            return True
        a += 1
    return False


def check_public_key(key: object) -> PublicKey:
    """Return ``key`` if the rules allow it for a signing certificate, else raise InvalidRequest."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        if key.key_size < 2048:
            raise InvalidRequest(f"RSA key of {key.key_size} bits refused: at least 2048 bits are required")
        if numbers.e != 65537:
            raise InvalidRequest(f"RSA public exponent {numbers.e} refused: only 65537 is accepted")
        if _fermat_factorable(numbers.n):
            raise InvalidRequest(
                "RSA key refused: its modulus factors by Fermat's method (weak key generator)"
            )
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _ALLOWED_CURVES):
            raise InvalidRequest(f"EC curve {key.curve.name} refused: P-256, P-384 or P-521 are required")
        return key
    raise InvalidRequest(f"{type(key).__name__} keys are refused: use RSA (2048+) or ECDSA (P-256+)")


def public_key_from_csr(data: bytes) -> PublicKey:
    """The checked public key of a PEM or DER PKCS#10 request whose self-signature verifies."""
    try:
        csr = (
            x509.load_pem_x509_csr(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else x509.load_der_x509_csr(data)
        )
        algorithm = csr.signature_hash_algorithm
        signature_valid = csr.is_signature_valid
        key = csr.public_key()
    except x509.InvalidVersion as error:
        raise InvalidRequest(
            f"the CSR's version field holds {error.parsed_version}; PKCS#10 has only version 1 (the value 0) "
            f"/ trường phiên bản của CSR là {error.parsed_version}; PKCS#10 chỉ có phiên bản 1 (giá trị 0)"
        ) from None
    except (ValueError, TypeError, x509.UnsupportedGeneralNameType) as error:
        raise InvalidRequest(f"the CSR cannot be read as PKCS#10: {error}") from None
    except UnsupportedAlgorithm as error:
        raise InvalidRequest(f"the CSR uses an unsupported algorithm: {error}") from None
    if isinstance(algorithm, _WEAK_HASHES):
        raise InvalidRequest(
            f"the CSR is signed with {algorithm.name.upper()}; SHA-256 or stronger is required"
        )
    if not signature_valid:
        raise InvalidRequest("the CSR's signature does not verify: it was altered or not made with its key")
    return check_public_key(key)
