"""Steps C1-C2 of docs/SOLE-CONTROL.md on the credential's row: whether an attempt may start, and what a
wrong PIN or set-up code does to the count (the module holds the row's lock around each)."""

from __future__ import annotations

from ca.activation.records import CredentialState, SealKind, SigningCredential
from ca.activation.rules import MAX_ATTEMPTS, ActivationError, CredentialLocked, WrongActivation
from ca.errors import StateConflict
from ca.store import utc_now

__all__ = ["count_wrong_secret", "refusal_before_attempt"]


def refusal_before_attempt(
    credential: SigningCredential, kind: SealKind
) -> ActivationError | StateConflict | None:
    """C1: why this credential cannot be opened with a ``kind`` now, or None (then the caller spends one of
    the attempts before the check, so that parallel guesses cannot overtake the lock)."""
    if credential.state == CredentialState.DESTROYED or credential.sealed_key is None:
        return StateConflict("this signing key was destroyed (revoked); it can no longer sign")
    if credential.locked_at is not None or credential.failed_attempts >= MAX_ATTEMPTS:
        credential.locked_at = credential.locked_at or utc_now()
        return CredentialLocked(
            "this credential is locked after too many wrong PINs; ask an administrator to unlock it"
        )
    if credential.failed_attempts + credential.attempts_in_flight >= MAX_ATTEMPTS:
        # the attempts left are all being judged right now: wait for them, however parallel
        return StateConflict("other activations of this credential are being checked; try again shortly")
    if SealKind(credential.seal) is not kind:
        return StateConflict(
            "the holder has not set a PIN yet: set it with the one-time set-up code first"
            if kind is SealKind.PIN
            else "this credential already has its holder's PIN; the set-up code is spent"
        )
    return None


def count_wrong_secret(credential: SigningCredential, kind: SealKind) -> ActivationError:
    """C2 failed: one more wrong PIN or code, locking (and counting the lock) at the last attempt; the
    error to raise."""
    credential.attempts_in_flight = max(0, credential.attempts_in_flight - 1)
    credential.failed_attempts += 1
    left = MAX_ATTEMPTS - credential.failed_attempts
    what = "PIN" if kind is SealKind.PIN else "set-up code"
    if left > 0:
        return WrongActivation(
            f"wrong {what} ({left} attempts left before the credential locks)",
            pin=kind is SealKind.PIN,
            attempts_left=left,
        )
    if credential.locked_at is None:
        credential.locked_at = utc_now()
        credential.lock_count += 1
    return CredentialLocked(f"wrong {what}; the credential is now locked, ask an administrator")
