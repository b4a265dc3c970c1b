"""The signature activation module (EN 419 241-1 SCAL2): subscriber keys that sign only for their holder.

Design, steps and threat model: docs/SOLE-CONTROL.md.
"""

from ca.activation.module import (
    GRANT_LIFETIME,
    MAX_ATTEMPTS,
    MAX_HASHES,
    MIN_PIN_LENGTH,
    ActivationError,
    ActivationModule,
    CredentialLocked,
    CredentialStatus,
    Grant,
    NewCredential,
    SadRejected,
    WrongActivation,
)
from ca.activation.records import ActivationGrant, CredentialState, GrantKind, SigningCredential

__all__ = [
    "GRANT_LIFETIME",
    "MAX_ATTEMPTS",
    "MAX_HASHES",
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
