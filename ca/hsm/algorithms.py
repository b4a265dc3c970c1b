"""Key and signature algorithms: what govsign generates and signs with, and their PKCS #11 mechanisms."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import pkcs11
from asn1crypto import core as asn1_core
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, Mechanism
from pkcs11.util.ec import encode_ecdsa_signature

__all__ = [
    "HashName",
    "KeyAlgorithm",
    "KeyPair",
    "PublicKey",
    "SignatureAlgorithm",
    "public_key_of",
    "sign_digest",
]

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
HashName = Literal["sha256", "sha384", "sha512"]


class KeyAlgorithm(StrEnum):
    """Key types the Vietnamese crypto rules (Circular 15/2025) allow us to generate."""

    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"

    @property
    def is_rsa(self) -> bool:
        return self.value.startswith("rsa")

    @property
    def rsa_bits(self) -> int:
        return int(self.value.removeprefix("rsa"))

    @property
    def curve(self) -> ec.EllipticCurve:
        return ec.SECP256R1() if self is KeyAlgorithm.EC_P256 else ec.SECP384R1()

    @classmethod
    def of(cls, public_key: object) -> KeyAlgorithm:
        """The algorithm of a `cryptography` public key, if it is one we use."""
        if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size in (2048, 3072, 4096):
            return cls(f"rsa{public_key.key_size}")
        if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name in (
            "secp256r1",
            "secp384r1",
        ):
            return cls.EC_P256 if public_key.curve.name == "secp256r1" else cls.EC_P384
        raise ValueError(f"unsupported key {type(public_key).__name__}")

    @property
    def default_signature(self) -> SignatureAlgorithm:
        """The signature a CA makes with a key of this type: SHA-384 with P-384, SHA-256 otherwise."""
        if self.is_rsa:
            return SignatureAlgorithm("rsa-pkcs1v15", "sha256")
        return SignatureAlgorithm("ecdsa", "sha384" if self is KeyAlgorithm.EC_P384 else "sha256")


@dataclass(frozen=True)
class SignatureAlgorithm:
    """A signature scheme and its hash; ``rsa-pss`` uses MGF1 with the same hash and a salt of hash length."""

    scheme: Literal["rsa-pkcs1v15", "rsa-pss", "ecdsa"]
    hash: HashName


@dataclass(frozen=True)
class KeyPair:
    """A key pair in the token: private and public objects share ``key_id`` (CKA_ID)."""

    key_id: bytes
    algorithm: KeyAlgorithm
    public_key: PublicKey


# DER DigestInfo prefixes (RFC 8017 §9.2 note 1): CKM_RSA_PKCS signs DigestInfo, not the bare hash.
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
# RSASSA-PSS parameters: MGF1 with the message's hash and a salt of its length.
_PSS = {
    "sha256": (Mechanism.SHA256, pkcs11.MGF.SHA256, 32),
    "sha384": (Mechanism.SHA384, pkcs11.MGF.SHA384, 48),
    "sha512": (Mechanism.SHA512, pkcs11.MGF.SHA512, 64),
}
_CURVE_NAMES = {KeyAlgorithm.EC_P256: "secp256r1", KeyAlgorithm.EC_P384: "secp384r1"}


def public_key_of(public: Any) -> PublicKey:
    """A PKCS#11 public key object as a `cryptography` key."""
    if public.key_type == KeyType.RSA:
        modulus = int.from_bytes(public[Attribute.MODULUS], "big")
        exponent = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    point = asn1_core.OctetString.load(public[Attribute.EC_POINT]).native
    curve = ec.SECP384R1() if len(point) > 65 else ec.SECP256R1()
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)


def sign_digest(private: Any, digest: bytes, scheme: SignatureAlgorithm) -> bytes:
    """Sign ``digest``, the hash of the message computed on the host, with the PKCS#11 private key object
    ``private`` under ``scheme``: the DER ``ECDSA-Sig-Value`` that X.509 and CMS carry for ECDSA (not
    PKCS#11's raw r||s), the signature block for RSA. The message never crosses to the token, as with Go's
    crypto.Signer over PKCS#11 (a million-entry CRL is 50 MB; a network HSM is sent its 32-byte hash)."""
    if scheme.scheme == "ecdsa":
        return bytes(encode_ecdsa_signature(private.sign(digest, mechanism=Mechanism.ECDSA)))
    if scheme.scheme == "rsa-pss":
        return bytes(
            private.sign(digest, mechanism=Mechanism.RSA_PKCS_PSS, mechanism_param=_PSS[scheme.hash])
        )
    return bytes(private.sign(_DIGEST_INFO[scheme.hash] + digest, mechanism=Mechanism.RSA_PKCS))
