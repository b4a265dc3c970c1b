"""The activation module's rules and vocabulary: limits, errors, and the checks on what comes in."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from ca.activation.records import CredentialState, SealKind
from ca.errors import CaError, InvalidRequest
from ca.hsm import KeyAlgorithm, PublicKey

__all__ = [
    "GRANT_LIFETIME",
    "HASH_SIZES",
    "MAX_ATTEMPTS",
    "MAX_HASHES",
    "MAX_LOCKS",
    "MIN_PIN_LENGTH",
    "ActivationError",
    "CredentialLocked",
    "CredentialStatus",
    "Grant",
    "NewCredential",
    "SadRejected",
    "WrongActivation",
    "associated",
    "check_pin",
    "checked_hashes",
    "normalise_code",
    "setup_code",
]

MAX_ATTEMPTS = 5
MAX_LOCKS = 3  # locks an administrator may lift; after the last, only a new key (15 guesses in all)
MIN_PIN_LENGTH = 6
MAX_HASHES = 1000
GRANT_LIFETIME = dt.timedelta(minutes=5)
HASH_SIZES: dict[str, int] = {"sha256": 32, "sha384": 48, "sha512": 64}


class ActivationError(CaError):
    """The holder's activation was refused; the message says why and what to do."""


class WrongActivation(ActivationError):
    """Wrong PIN or set-up code; counted towards the lock. ``pin`` (else the set-up code) and
    ``attempts_left`` let a face say it in its own language."""

    def __init__(self, message: str, *, pin: bool = True, attempts_left: int | None = None) -> None:
        super().__init__(message)
        self.pin = pin
        self.attempts_left = attempts_left


class CredentialLocked(ActivationError):
    """Too many wrong PINs: only an administrator's unlock lets the holder try again."""


class SadRejected(ActivationError):
    """A SAD that is unknown, used, expired, another credential's, or does not cover the hashes."""


@dataclass(frozen=True)
class NewCredential:
    key_id: str
    algorithm: KeyAlgorithm
    public_key: PublicKey
    setup_code: str  # shown once, handed to the holder; never stored


@dataclass(frozen=True)
class Grant:
    sad: str  # given to the client only; the module keeps its SHA-256
    expires_at: dt.datetime
    count: int


@dataclass(frozen=True)
class CredentialStatus:
    key_id: str
    algorithm: KeyAlgorithm
    state: CredentialState
    locked: bool
    attempts_left: int


def setup_code() -> str:
    """80 random bits as four groups of base32 a person can copy from an envelope."""
    text = base64.b32encode(secrets.token_bytes(10)).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def normalise_code(code: str) -> str:
    return code.strip().upper().replace(" ", "").replace("-", "")


def associated(key_id: str, kind: SealKind) -> bytes:
    return f"{key_id}|{kind}".encode()


def check_pin(pin: str) -> None:
    if len(pin) < MIN_PIN_LENGTH:
        raise InvalidRequest(f"the PIN needs at least {MIN_PIN_LENGTH} characters")
    if any(not character.isprintable() for character in pin):
        raise InvalidRequest("the PIN may not contain control or invisible characters")


def checked_hashes(hashes: Sequence[bytes], algorithm: str) -> list[bytes]:
    size = HASH_SIZES.get(algorithm)
    if size is None:
        raise InvalidRequest(f"unsupported hash algorithm {algorithm!r}")
    if not 1 <= len(hashes) <= MAX_HASHES:
        raise InvalidRequest(f"authorise between 1 and {MAX_HASHES} hashes at a time")
    if any(len(h) != size for h in hashes):
        raise InvalidRequest(f"every hash must be {size} bytes long for {algorithm}")
    return list(hashes)
