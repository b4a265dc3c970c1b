"""The signature activation module: the one door through which a subscriber's key signs.

Steps A-D of docs/SOLE-CONTROL.md are marked where they happen. Every public method takes the actor for
the audit log; none takes a key handle, a token or a table from its caller, and none signs without a
grant that the holder's activation data opened.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ca import audit
from ca.activation.attempts import count_wrong_secret, refusal_before_attempt
from ca.activation.grants import Claim, lock_credentials, spend_claim
from ca.activation.records import (
    ActivationGrant,
    CredentialState,
    GrantKind,
    SealKind,
    SigningCredential,
    credential_row,
)
from ca.activation.rules import (
    GRANT_LIFETIME,
    MAX_ATTEMPTS,
    MAX_LOCKS,
    ActivationError,
    CredentialLocked,
    CredentialStatus,
    Grant,
    NewCredential,
    SadRejected,
    associated,
    check_pin,
    checked_hashes,
    normalise_code,
    setup_code,
)
from ca.activation.sealing import (
    Unsealed,
    new_salt,
    new_secret,
    open_seal,
    sad_digest,
    sad_key,
    seal,
    seal_key,
)
from ca.errors import StateConflict
from ca.group_commit import GroupCommit
from ca.hsm import HashName, KeyAlgorithm, PublicKey, SignatureAlgorithm, Token
from ca.hsm.vault import KeyVault
from ca.store import Database, utc_now

__all__ = ["ActivationModule"]


@dataclass(frozen=True)
class _Attempt:
    """What step C1 read under the row lock, so that C2 can run without holding it."""

    credential_id: int
    key_id: str
    sealed_key: bytes
    seal: SealKind
    salt: bytes


class ActivationModule:
    """Sealed subscriber keys in ``database``, their KEK and pepper in ``vault``; audit under ``audit_token``."""

    def __init__(self, database: Database, vault: KeyVault, audit_token: Token) -> None:
        self.database = database
        self.vault = vault
        self.audit_token = audit_token
        self._claims = GroupCommit(
            database, partial(spend_claim, audit_token=audit_token), lock_first=lock_credentials
        )

    # -- A: a new credential -----------------------------------------------------------------------------

    def create_credential(self, algorithm: KeyAlgorithm, *, actor: str) -> NewCredential:
        """Steps A1-A3: a key born in the HSM, kept only wrapped and sealed under a one-time set-up code."""
        pair = self.vault.generate_wrapped_key_pair(algorithm)  # A1-A2
        key_id = secrets.token_hex(16)
        code = setup_code()
        salt = new_salt()
        opened_by = seal_key(self.vault, key_id, normalise_code(code), salt)
        sealed = seal(opened_by, pair.wrapped, associated(key_id, SealKind.SETUP_CODE))  # A3
        public_der = pair.public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        with self.database.transaction() as session:
            session.add(
                SigningCredential(
                    key_id=key_id,
                    algorithm=algorithm.value,
                    public_key_der=public_der,
                    sealed_key=sealed,
                    seal=SealKind.SETUP_CODE.value,
                    salt=salt,
                    state=CredentialState.AWAITING_HOLDER.value,
                )
            )
            self._audit(session, actor, "credential.create", key_id, details={"algorithm": algorithm.value})
        return NewCredential(key_id, algorithm, pair.public_key, code)

    # -- B: the holder takes control, changes the PIN ------------------------------------------------------

    def take_control(
        self, key_id: str, setup_code: str, new_pin: str, *, actor: str, client: str = ""
    ) -> None:
        """Steps B1-B2: the set-up code opens the key once; the holder's PIN seals it from now on."""
        check_pin(new_pin)
        wrapped, opened = self._open(
            key_id, normalise_code(setup_code), SealKind.SETUP_CODE, actor, "credential.take-control", client
        )
        self._reseal(key_id, wrapped, opened, new_pin, actor, "credential.take-control")

    def change_pin(
        self, key_id: str, current_pin: str, new_pin: str, *, actor: str, client: str = ""
    ) -> None:
        check_pin(new_pin)
        wrapped, opened = self._open(
            key_id, current_pin, SealKind.PIN, actor, "credential.change-pin", client
        )
        self._reseal(key_id, wrapped, opened, new_pin, actor, "credential.change-pin")

    # -- C: authorise -----------------------------------------------------------------------------------

    def authorize(
        self,
        key_id: str,
        pin: str,
        hashes: Sequence[bytes],
        *,
        kind: GrantKind,
        hash_algorithm: HashName,
        actor: str,
        client: str = "",
    ) -> Grant:
        """Steps C1-C3: the holder's PIN opens the key for exactly ``hashes`` (once each) for 5 minutes."""
        wanted = checked_hashes(hashes, hash_algorithm)
        wrapped, _ = self._open(key_id, pin, SealKind.PIN, actor, "credential.authorize", client)
        sad = new_secret()
        expires = utc_now() + GRANT_LIFETIME
        with self.database.transaction() as session:
            credential = credential_row(session, key_id)
            session.add(
                ActivationGrant(
                    sad_sha256=sad_digest(sad),
                    credential_id=credential.id,
                    kind=kind.value,
                    hash_algorithm=hash_algorithm,
                    hashes="\n".join(h.hex() for h in wanted),
                    used_hashes="",
                    remaining=len(wanted),
                    key_under_sad=seal(sad_key(sad, key_id), wrapped, key_id.encode()),
                    expires_at=expires,
                )
            )
            details = {
                "kind": kind.value,
                "hash_algorithm": hash_algorithm,
                "hashes": [h.hex() for h in wanted],
            }
            details |= {"client": client} if client else {}
            self._audit(session, actor, "credential.authorize", key_id, details=details)
        return Grant(sad, expires, len(wanted))

    # -- D: sign ----------------------------------------------------------------------------------------

    def sign_hashes(
        self, key_id: str, sad: str, hashes: Sequence[bytes], scheme: SignatureAlgorithm, *, actor: str
    ) -> list[bytes]:
        """Steps D1-D3 for a hash grant (CSC signHash): every hash must be one the SAD names; used once."""
        wanted = checked_hashes(hashes, scheme.hash)
        wrapped, algorithm = self._claim(key_id, sad, GrantKind.HASHES, wanted, scheme, actor, document=None)
        return self.vault.sign_digests(wrapped, algorithm, wanted, scheme)

    def sign_document(
        self,
        key_id: str,
        sad: str,
        document_sha256: bytes,
        digest: bytes,
        scheme: SignatureAlgorithm,
        *,
        actor: str,
    ) -> bytes:
        """Steps D1-D3 for a document grant: one signature for one approved document, never twice."""
        wanted = checked_hashes([digest], scheme.hash)
        wrapped, algorithm = self._claim(
            key_id, sad, GrantKind.DOCUMENTS, wanted, scheme, actor, document=document_sha256
        )
        return self.vault.sign_digests(wrapped, algorithm, wanted, scheme)[0]

    # -- the end of a key, and the administrator's unlock --------------------------------------------

    def destroy(self, session: Session, key_id: str, *, reason: str, actor: str) -> bool:
        """Crypto-shredding inside the caller's transaction: the sealed key and every open grant are
        deleted, so nobody can sign with this key again. False when there was nothing left to destroy."""
        credential = session.execute(
            select(SigningCredential).where(SigningCredential.key_id == key_id).with_for_update()
        ).scalar_one_or_none()
        if credential is None or credential.state == CredentialState.DESTROYED:
            return False
        session.execute(delete(ActivationGrant).where(ActivationGrant.credential_id == credential.id))
        credential.sealed_key = None
        credential.state = CredentialState.DESTROYED.value
        credential.destroyed_at = utc_now()
        credential.destroyed_reason = reason
        self._audit(session, actor, "credential.destroy", key_id, details={"reason": reason})
        return True

    def unlock(self, key_id: str, *, actor: str) -> None:
        """An administrator lifts a lock that wrong PINs set, at most ``MAX_LOCKS - 1`` times: otherwise
        whoever may unlock (and reissue the holder's API token) could guess five PINs a cycle for ever. The
        last lock stays; the holder then needs a new key, as with a lost token."""
        with self.database.transaction() as session:
            credential = credential_row(session, key_id)
            if credential.lock_count >= MAX_LOCKS:
                refusal = StateConflict(
                    f"wrong PINs have locked this credential {credential.lock_count} times; it cannot be "
                    "unlocked again: the holder needs a new key (revoke the certificate and issue a new one)"
                )
            else:
                refusal = None
                credential.failed_attempts = credential.attempts_in_flight = 0
                credential.locked_at = None
                self._audit(session, actor, "credential.unlock", key_id)
        if refusal is not None:
            self._refused(key_id, actor, "credential.unlock", "", reason="locked for good")
            raise refusal

    def status(self, key_id: str) -> CredentialStatus:
        with self.database.transaction() as session:
            credential = credential_row(session, key_id, lock=False)
            return CredentialStatus(
                key_id=key_id,
                algorithm=KeyAlgorithm(credential.algorithm),
                state=CredentialState(credential.state),
                locked=credential.locked_at is not None,
                attempts_left=max(0, MAX_ATTEMPTS - credential.failed_attempts),
            )

    def public_key(self, key_id: str) -> PublicKey:
        with self.database.transaction() as session:
            der = credential_row(session, key_id, lock=False).public_key_der
        key = load_der_public_key(der)
        KeyAlgorithm.of(key)
        return key  # type: ignore[return-value]  # KeyAlgorithm.of accepted it: RSA or EC

    # -- the steps' insides --------------------------------------------------------------------------

    def _open(
        self, key_id: str, secret: str, kind: SealKind, actor: str, action: str, client: str
    ) -> tuple[bytes, bytes]:
        """C1-C2 (and B1): count the attempt first, then try the seal outside any lock, then record; the
        wrapped key and the sealed blob it came from. Every refusal, a locked credential's too, is
        audited with the client it came from."""
        attempt = self._begin_attempt(key_id, kind)
        if isinstance(attempt, ActivationError | StateConflict):
            self._refused(key_id, actor, action, client, reason=type(attempt).__name__)
            raise attempt
        try:
            key = seal_key(self.vault, key_id, secret, attempt.salt)
        except BaseException:  # the HSM failed: the attempt was not judged, and counts for nothing
            self._settle(key_id)
            raise
        try:
            wrapped = open_seal(key, attempt.sealed_key, associated(key_id, kind))
        except Unsealed:
            raise self._failure(key_id, actor, action, kind, client) from None
        with self.database.transaction() as session:
            credential = credential_row(session, key_id)
            credential.attempts_in_flight = max(0, credential.attempts_in_flight - 1)
            changed = credential.sealed_key != attempt.sealed_key
            locked = credential.locked_at is not None  # guesses in flight locked it: the lock wins
            if not (locked or changed):
                credential.failed_attempts = 0
        if changed:
            raise StateConflict("the credential changed meanwhile (PIN changed or key destroyed); try again")
        if locked:
            self._refused(key_id, actor, action, client, reason="CredentialLocked")
            raise CredentialLocked(
                "this credential is locked after too many wrong PINs; ask an administrator"
            )
        return wrapped, attempt.sealed_key

    def _begin_attempt(self, key_id: str, kind: SealKind) -> _Attempt | ActivationError | StateConflict:
        """C1: the refusal for what cannot be opened, or spend one of the attempts before the check (so
        that parallel guesses cannot overtake the lock) and return what C2 needs."""
        with self.database.transaction() as session:
            credential = credential_row(session, key_id)
            refusal = refusal_before_attempt(credential, kind)
            if refusal is not None or credential.sealed_key is None:  # (None only when refused)
                return refusal or StateConflict(
                    "this signing key was destroyed (revoked); it can no longer sign"
                )
            credential.attempts_in_flight += 1
            return _Attempt(credential.id, key_id, credential.sealed_key, kind, credential.salt)

    def _settle(self, key_id: str) -> None:
        """An attempt that ended without a judgement (the HSM failed) gives its place back."""
        with self.database.transaction() as session:
            credential = credential_row(session, key_id)
            credential.attempts_in_flight = max(0, credential.attempts_in_flight - 1)

    def _refused(self, key_id: str, actor: str, action: str, client: str, *, reason: str) -> None:
        with self.database.transaction() as session:
            details = {"reason": reason, **({"client": client} if client else {})}
            self._audit(session, actor, action, key_id, result="refused", details=details)

    def _failure(self, key_id: str, actor: str, action: str, kind: SealKind, client: str) -> ActivationError:
        """Record a wrong PIN or code (locking at the last attempt); the error to raise."""
        with self.database.transaction() as session:
            error = count_wrong_secret(credential_row(session, key_id), kind)
        self._refused(key_id, actor, action, client, reason=f"wrong {kind}")
        return error

    def _reseal(self, key_id: str, wrapped: bytes, opened: bytes, pin: str, actor: str, action: str) -> None:
        """B2: seal under the new PIN, only if the seal is still the one just opened (compare and swap:
        of two people racing with the same set-up code or old PIN, one wins, the other is told)."""
        salt = new_salt()
        sealed = seal(seal_key(self.vault, key_id, pin, salt), wrapped, associated(key_id, SealKind.PIN))
        with self.database.transaction() as session:
            credential = credential_row(session, key_id)
            if credential.state == CredentialState.DESTROYED:
                raise StateConflict("this signing key was destroyed (revoked); it can no longer sign")
            if credential.sealed_key != opened:
                raise StateConflict(
                    "the PIN was set or changed meanwhile by someone else; nothing was changed"
                )
            credential.sealed_key, credential.salt = sealed, salt
            credential.seal = SealKind.PIN.value
            credential.state = CredentialState.ACTIVE.value
            credential.failed_attempts = 0
            credential.locked_at = None
            # Grants opened under the old PIN stay valid for their few minutes: the holder made them.
            self._audit(session, actor, action, key_id)

    def _claim(
        self,
        key_id: str,
        sad: str,
        kind: GrantKind,
        hashes: list[bytes],
        scheme: SignatureAlgorithm,
        actor: str,
        *,
        document: bytes | None,
    ) -> tuple[bytes, KeyAlgorithm]:
        """D1-D2: check the SAD covers the request and spend it, committed (together with the claims of
        other threads arriving meanwhile, :mod:`ca.group_commit`) before the HSM signs."""
        claim = Claim(key_id, sad_digest(sad), kind, scheme.hash, tuple(hashes), document, actor)
        key_under_sad, algorithm = self._claims.run(claim)
        try:
            wrapped = open_seal(sad_key(sad, key_id), key_under_sad, key_id.encode())
        except Unsealed:
            raise SadRejected("the SAD does not open this grant") from None
        return wrapped, algorithm

    def _audit(
        self,
        session: Session,
        actor: str,
        action: str,
        key_id: str,
        *,
        result: str = "success",
        details: Mapping[str, object] | None = None,
    ) -> None:
        audit.append(
            session,
            self.audit_token,
            audit.AuditEvent(actor, action, f"credential:{key_id}", result, details),
        )
