"""The algorithm identifiers of the CSC API (OIDs in dotted form) and what our keys do with them.

CSC names hashes and signature schemes by OID; the activation module by :class:`SignatureAlgorithm`.
This is the one translation between the two, so that a scheme the HSM cannot make (or a PSS variant a
verifier would not expect) is refused with a clear message before any SAD is spent.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos

from ca.hsm import HashName, KeyAlgorithm, SignatureAlgorithm
from govsign.csc.errors import CscError, CscProblem

__all__ = [
    "HASH_OIDS",
    "SIGN_ALGORITHMS",
    "KeyDescription",
    "describe_key",
    "hash_name",
    "signature_algorithm",
]

HASH_OIDS: dict[str, HashName] = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_HASH_BY_SIZE: dict[int, HashName] = {32: "sha256", 48: "sha384", 64: "sha512"}
_HASH_SIZE: dict[HashName, int] = {name: size for size, name in _HASH_BY_SIZE.items()}

RSA_ENCRYPTION = "1.2.840.113549.1.1.1"  # the key's OID; with a separate hash OID it means PKCS#1 v1.5
RSASSA_PSS = "1.2.840.113549.1.1.10"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_RSA_PKCS1: dict[str, HashName] = {
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}
_ECDSA: dict[str, HashName] = {
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}
SIGN_ALGORITHMS = (RSA_ENCRYPTION, *_RSA_PKCS1, RSASSA_PSS, EC_PUBLIC_KEY, *_ECDSA)
_CURVES = {KeyAlgorithm.EC_P256: "1.2.840.10045.3.1.7", KeyAlgorithm.EC_P384: "1.3.132.0.34"}


@dataclass(frozen=True)
class KeyDescription:
    """What credentials/info says about a key: the OIDs it signs with, its length, its curve."""

    algorithms: tuple[str, ...]
    length: int
    curve: str | None


def describe_key(algorithm: KeyAlgorithm) -> KeyDescription:
    """The key's own OID first (as the spec's examples do), then every signature OID signHash accepts
    for it, which is what clients such as pyHanko match their chosen mechanism against."""
    if algorithm.is_rsa:
        return KeyDescription((RSA_ENCRYPTION, *_RSA_PKCS1, RSASSA_PSS), algorithm.rsa_bits, None)
    return KeyDescription((EC_PUBLIC_KEY, *_ECDSA), algorithm.curve.key_size, _CURVES[algorithm])


def hash_name(oid: str | None, hashes: Sequence[bytes]) -> HashName:
    """The hash algorithm of ``oid``, or (CSC 1.0.4 sends none to credentials/authorize) the one whose
    digests are as long as ``hashes``."""
    if oid is not None:
        name = HASH_OIDS.get(oid)
        if name is None:
            raise CscError(CscProblem.INVALID_REQUEST, "Invalid parameter hashAlgo (SHA-256, -384 or -512)")
        return name
    sizes = {len(digest) for digest in hashes}
    if len(sizes) != 1 or (size := sizes.pop()) not in _HASH_BY_SIZE:
        raise CscError(CscProblem.INVALID_REQUEST, "Invalid digest value length")
    return _HASH_BY_SIZE[size]


def signature_algorithm(
    key: KeyAlgorithm, sign_oid: str, hash_oid: str | None, params_der: bytes | None
) -> SignatureAlgorithm:
    """The scheme signHash makes for ``sign_oid`` (with ``hash_oid`` and, for PSS, its parameters)."""
    hash_given = None if hash_oid is None else hash_name(hash_oid, ())
    if sign_oid in _RSA_PKCS1 or sign_oid in _ECDSA:
        implied = _RSA_PKCS1.get(sign_oid) or _ECDSA[sign_oid]
        if hash_given not in (None, implied):
            raise CscError(CscProblem.INVALID_REQUEST, f"Invalid parameter hashAlgo for signAlgo {sign_oid}")
        scheme = SignatureAlgorithm("rsa-pkcs1v15" if sign_oid in _RSA_PKCS1 else "ecdsa", implied)
    elif sign_oid in (RSA_ENCRYPTION, EC_PUBLIC_KEY):
        if hash_given is None:
            raise CscError(CscProblem.INVALID_REQUEST, "Missing (or invalid type) string parameter hashAlgo")
        scheme = SignatureAlgorithm("rsa-pkcs1v15" if sign_oid == RSA_ENCRYPTION else "ecdsa", hash_given)
    elif sign_oid == RSASSA_PSS:
        scheme = SignatureAlgorithm("rsa-pss", _pss_hash(params_der, hash_given))
    else:
        raise CscError(CscProblem.INVALID_REQUEST, f"Invalid parameter signAlgo: {sign_oid} is not supported")
    if (scheme.scheme == "ecdsa") == key.is_rsa:
        raise CscError(
            CscProblem.INVALID_REQUEST, f"Invalid parameter signAlgo: {sign_oid} does not fit a {key} key"
        )
    return scheme


def _pss_hash(params_der: bytes | None, hash_given: HashName | None) -> HashName:
    """RSASSA-PSS as the HSM makes it: MGF1 with the message hash and a salt of the hash's length.
    Without parameters that is what we make; parameters that ask for anything else are refused."""
    if params_der is None:
        if hash_given is None:
            raise CscError(
                CscProblem.INVALID_REQUEST, "Missing (or invalid type) string parameter signAlgoParams"
            )
        return hash_given
    try:
        params = algos.RSASSAPSSParams.load(params_der)
        digest = params["hash_algorithm"]["algorithm"].dotted
        mgf = params["mask_gen_algorithm"]
        mgf_digest = mgf["parameters"]["algorithm"].dotted
        salt = int(params["salt_length"].native)
        trailer = params["trailer_field"].native
        mgf_name = mgf["algorithm"].native
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise CscError(
            CscProblem.INVALID_REQUEST, "Invalid parameter signAlgoParams (RSASSA-PSS-params)"
        ) from None
    name = HASH_OIDS.get(digest)
    if (
        name is None
        or mgf_name != "mgf1"
        or mgf_digest != digest
        or salt != _HASH_SIZE[name]
        or trailer not in (1, "trailer_field_bc")
        or hash_given not in (None, name)
    ):
        raise CscError(
            CscProblem.INVALID_REQUEST,
            "Invalid parameter signAlgoParams: this service signs RSASSA-PSS only with SHA-256, -384 or -512, "
            "MGF1 with the same hash and a salt as long as the hash",
        )
    return name
