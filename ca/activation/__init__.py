"""The signature activation module (EN 419 241-1 SCAL2): subscriber keys that sign only for their holder.

Design, steps and threat model: docs/SOLE-CONTROL.md.
"""

from ca.activation.module import ActivationModule
from ca.activation.records import ActivationGrant, CredentialState, GrantKind, SigningCredential
from ca.activation.rules import (
    GRANT_LIFETIME,
    MAX_ATTEMPTS,
    MAX_HASHES,
    MAX_LOCKS,
    MIN_PIN_LENGTH,
    ActivationError,
    CredentialLocked,
    CredentialStatus,
    Grant,
    NewCredential,
    SadRejected,
    WrongActivation,
)

__all__ = [
    "GRANT_LIFETIME",
    "MAX_ATTEMPTS",
    "MAX_HASHES",
    "MAX_LOCKS",
    "MIN_PIN_LENGTH",
    "ActivationError",
    "ActivationGrant",
    "ActivationModule",
    "CredentialLocked",
    "CredentialState",
    "CredentialStatus",
    "Grant",
    "GrantKind",
    "NewCredential",
    "SadRejected",
    "SigningCredential",
    "WrongActivation",
]
