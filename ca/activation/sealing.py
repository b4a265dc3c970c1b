"""Keys derived from activation data, and the AES-256-GCM seals they close (docs/SOLE-CONTROL.md).

``K_seal = HKDF-SHA256(HMAC_pepper(key_id || argon2id(secret, salt)))``: argon2id makes each guess cost
memory and time on the host, the pepper HMAC inside the HSM makes each guess need the HSM, so a copy of
the database alone tests no guess at all. The credential's key id and the seal's kind are authenticated
data: a sealed key cannot be moved to another credential, nor a set-up-code seal pass for a PIN seal.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ca.hsm.vault import PEPPER_LABEL, KeyVault

__all__ = ["Unsealed", "new_salt", "new_secret", "open_seal", "sad_digest", "sad_key", "seal", "seal_key"]

# OWASP's argon2id floor (m=19 MiB, t=2, p=1), the same as the account PINs had.
_ARGON2_TIME, _ARGON2_MEMORY_KIB = 2, 19 * 1024
_NONCE = 12


class Unsealed(Exception):
    """The seal did not open: wrong PIN or set-up code (or a seal moved from elsewhere)."""


def new_salt() -> bytes:
    return secrets.token_bytes(16)


def new_secret() -> str:
    """A SAD or set-up code: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def seal_key(vault: KeyVault, key_id: str, secret: str, salt: bytes) -> bytes:
    """The AES key that seals credential ``key_id`` under ``secret`` (a PIN or a set-up code)."""
    stretched = hash_secret_raw(
        secret.encode("utf-8"), salt, _ARGON2_TIME, _ARGON2_MEMORY_KIB, 1, 32, Type.ID
    )
    peppered = vault.hmac_sha256(PEPPER_LABEL, b"govsign-seal-v1|" + key_id.encode() + b"|" + stretched)
    return _hkdf(peppered, b"govsign seal v1 " + key_id.encode())


def sad_key(sad: str, key_id: str) -> bytes:
    """The AES key that keeps a grant's wrapped key for the life of the SAD (the SAD is 256 random bits)."""
    return _hkdf(sad.encode("ascii"), b"govsign sad v1 " + key_id.encode())


def sad_digest(sad: str) -> str:
    return hashlib.sha256(sad.encode("utf-8", "surrogatepass")).hexdigest()


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_seal(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], associated)
    except (InvalidTag, ValueError):
        raise Unsealed from None


def _hkdf(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)
