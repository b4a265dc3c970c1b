"""The signature activation module: the one door through which a subscriber's key signs.

Steps A-D of docs/SOLE-CONTROL.md are marked where they happen. Every public method takes the actor for
the audit log; none takes a key handle, a token or a table from its caller, and none signs without a
grant that the holder's activation data opened.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ca import audit
from ca.activation.records import ActivationGrant, CredentialState, GrantKind, SealKind, SigningCredential
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
from ca.errors import CaError, InvalidRequest, NotFound, StateConflict
from ca.hsm import HashName, KeyAlgorithm, PublicKey, SignatureAlgorithm, Token
from ca.hsm.vault import KeyVault
from ca.store import Database, utc_now

__all__ = [
    "GRANT_LIFETIME",
    "MAX_ATTEMPTS",
    "MAX_HASHES",
    "MIN_PIN_LENGTH",
    "ActivationError",
    "ActivationModule",
    "CredentialLocked",
    "CredentialStatus",
    "Grant",
    "NewCredential",
    "SadRejected",
    "WrongActivation",
]

MAX_ATTEMPTS = 5
MIN_PIN_LENGTH = 6
MAX_HASHES = 1000
GRANT_LIFETIME = dt.timedelta(minutes=5)
HASH_SIZES: dict[str, int] = {"sha256": 32, "sha384": 48, "sha512": 64}


class ActivationError(CaError):
    """The holder's activation was refused; the message says why and what to do."""


class WrongActivation(ActivationError):
    """Wrong PIN or set-up code; counted towards the lock."""


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


@dataclass(frozen=True)
class _Attempt:
    """What step C1 read under the row lock, so that C2 can run without holding it."""

    credential_id: int
    key_id: str
    sealed_key: bytes
    seal: SealKind
    salt: bytes


def _setup_code() -> str:
    """80 random bits as four groups of base32 a person can copy from an envelope."""
    text = base64.b32encode(secrets.token_bytes(10)).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def _normalise_code(code: str) -> str:
    return code.strip().upper().replace(" ", "").replace("-", "")


def _associated(key_id: str, kind: SealKind) -> bytes:
    return f"{key_id}|{kind}".encode()


class ActivationModule:
    """Sealed subscriber keys in ``database``, their KEK and pepper in ``vault``; audit under ``audit_token``."""

    def __init__(self, database: Database, vault: KeyVault, audit_token: Token) -> None:
        self.database = database
        self.vault = vault
        self.audit_token = audit_token

    # -- A: a new credential -----------------------------------------------------------------------------

    def create_credential(self, algorithm: KeyAlgorithm, *, actor: str) -> NewCredential:
        """Steps A1-A3: a key born in the HSM, kept only wrapped and sealed under a one-time set-up code."""
        pair = self.vault.generate_wrapped_key_pair(algorithm)  # A1-A2
        key_id = secrets.token_hex(16)
        code = _setup_code()
        salt = new_salt()
        sealed = seal(
            seal_key(self.vault, key_id, _normalise_code(code), salt),
            pair.wrapped,
            _associated(key_id, SealKind.SETUP_CODE),
        )  # A3
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
                    failed_attempts=0,
                )
            )
            self._audit(session, actor, "credential.create", key_id, details={"algorithm": algorithm.value})
        return NewCredential(key_id, algorithm, pair.public_key, code)

    # -- B: the holder takes control, changes the PIN ------------------------------------------------------

    def take_control(
        self, key_id: str, setup_code: str, new_pin: str, *, actor: str, client: str = ""
    ) -> None:
        """Steps B1-B2: the set-up code opens the key once; the holder's PIN seals it from now on."""
        _check_pin(new_pin)
        wrapped = self._open(
            key_id, _normalise_code(setup_code), SealKind.SETUP_CODE, actor, "credential.take-control", client
        )
        self._reseal(key_id, wrapped, new_pin, actor, "credential.take-control")

    def change_pin(
        self, key_id: str, current_pin: str, new_pin: str, *, actor: str, client: str = ""
    ) -> None:
        _check_pin(new_pin)
        wrapped = self._open(key_id, current_pin, SealKind.PIN, actor, "credential.change-pin", client)
        self._reseal(key_id, wrapped, new_pin, actor, "credential.change-pin")

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
        wanted = _checked_hashes(hashes, hash_algorithm)
        wrapped = self._open(key_id, pin, SealKind.PIN, actor, "credential.authorize", client)
        sad = new_secret()
        expires = utc_now() + GRANT_LIFETIME
        with self.database.transaction() as session:
            credential = self._credential(session, key_id)
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
                **({"client": client} if client else {}),
            }
            self._audit(session, actor, "credential.authorize", key_id, details=details)
        return Grant(sad, expires, len(wanted))

    # -- D: sign ----------------------------------------------------------------------------------------

    def sign_hashes(
        self, key_id: str, sad: str, hashes: Sequence[bytes], scheme: SignatureAlgorithm, *, actor: str
    ) -> list[bytes]:
        """Steps D1-D3 for a hash grant (CSC signHash): every hash must be one the SAD names; used once."""
        wanted = _checked_hashes(hashes, scheme.hash)
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
        wanted = _checked_hashes([digest], scheme.hash)
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
        with self.database.transaction() as session:
            credential = self._credential(session, key_id)
            credential.failed_attempts = 0
            credential.locked_at = None
            self._audit(session, actor, "credential.unlock", key_id)

    def status(self, key_id: str) -> CredentialStatus:
        with self.database.transaction() as session:
            credential = self._credential(session, key_id, lock=False)
            return CredentialStatus(
                key_id=key_id,
                algorithm=KeyAlgorithm(credential.algorithm),
                state=CredentialState(credential.state),
                locked=credential.locked_at is not None,
                attempts_left=max(0, MAX_ATTEMPTS - credential.failed_attempts),
            )

    def public_key(self, key_id: str) -> PublicKey:
        with self.database.transaction() as session:
            der = self._credential(session, key_id, lock=False).public_key_der
        key = load_der_public_key(der)
        KeyAlgorithm.of(key)
        return key  # type: ignore[return-value]  # KeyAlgorithm.of accepted it: RSA or EC

    def purge_expired_grants(self) -> int:
        """Forget grants past their expiry (the wrapped key under each SAD goes with them)."""
        with self.database.transaction() as session:
            result = session.execute(delete(ActivationGrant).where(ActivationGrant.expires_at < utc_now()))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- the steps' insides --------------------------------------------------------------------------

    def _credential(self, session: Session, key_id: str, *, lock: bool = True) -> SigningCredential:
        query = select(SigningCredential).where(SigningCredential.key_id == key_id)
        credential = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
        if credential is None:
            raise NotFound(f"no signing credential {key_id}")
        return credential

    def _open(self, key_id: str, secret: str, kind: SealKind, actor: str, action: str, client: str) -> bytes:
        """C1-C2 (and B1): count the attempt first, then try the seal outside any lock, then record.
        Every refusal, a locked credential's too, is audited with the client it came from."""
        attempt = self._begin_attempt(key_id, kind)
        if isinstance(attempt, ActivationError | StateConflict):
            self._refused(key_id, actor, action, client, reason=type(attempt).__name__)
            raise attempt
        try:
            key = seal_key(self.vault, key_id, secret, attempt.salt)
            wrapped = open_seal(key, attempt.sealed_key, _associated(key_id, kind))
        except Unsealed:
            raise self._failure(key_id, actor, action, kind, client) from None
        with self.database.transaction() as session:
            credential = self._credential(session, key_id)
            if credential.sealed_key != attempt.sealed_key:
                raise StateConflict(
                    "the credential changed meanwhile (PIN changed or key destroyed); try again"
                )
            credential.failed_attempts = 0
        return wrapped

    def _begin_attempt(self, key_id: str, kind: SealKind) -> _Attempt | ActivationError | StateConflict:
        """C1: the refusal for what cannot be opened, or spend one of the attempts before the check (so
        that parallel guesses cannot overtake the lock) and return what C2 needs."""
        with self.database.transaction() as session:
            credential = self._credential(session, key_id)
            if credential.state == CredentialState.DESTROYED or credential.sealed_key is None:
                return StateConflict("this signing key was destroyed (revoked); it can no longer sign")
            if credential.locked_at is not None:
                return CredentialLocked(
                    "this credential is locked after too many wrong PINs; ask an administrator to unlock it"
                )
            if SealKind(credential.seal) is not kind:
                return StateConflict(
                    "the holder has not set a PIN yet: set it with the one-time set-up code first"
                    if kind is SealKind.PIN
                    else "this credential already has its holder's PIN; the set-up code is spent"
                )
            credential.failed_attempts += 1
            return _Attempt(credential.id, key_id, credential.sealed_key, kind, credential.salt)

    def _refused(self, key_id: str, actor: str, action: str, client: str, *, reason: str) -> None:
        with self.database.transaction() as session:
            details = {"reason": reason, **({"client": client} if client else {})}
            self._audit(session, actor, action, key_id, result="refused", details=details)

    def _failure(self, key_id: str, actor: str, action: str, kind: SealKind, client: str) -> ActivationError:
        """Record a wrong PIN or code (locking at the last attempt); the error to raise."""
        with self.database.transaction() as session:
            credential = self._credential(session, key_id)
            left = MAX_ATTEMPTS - credential.failed_attempts
            if left <= 0:
                credential.locked_at = utc_now()
        self._refused(key_id, actor, action, client, reason=f"wrong {kind}")
        what = "PIN" if kind is SealKind.PIN else "set-up code"
        if left <= 0:
            return CredentialLocked(f"wrong {what}; the credential is now locked, ask an administrator")
        return WrongActivation(f"wrong {what} ({left} attempts left before the credential locks)")

    def _reseal(self, key_id: str, wrapped: bytes, pin: str, actor: str, action: str) -> None:
        salt = new_salt()
        sealed = seal(seal_key(self.vault, key_id, pin, salt), wrapped, _associated(key_id, SealKind.PIN))
        with self.database.transaction() as session:
            credential = self._credential(session, key_id)
            if credential.state == CredentialState.DESTROYED:
                raise StateConflict("this signing key was destroyed (revoked); it can no longer sign")
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
        """D1-D2: check the SAD covers the request and spend it, committed before the HSM signs."""
        with self.database.transaction() as session:
            grant = session.execute(
                select(ActivationGrant).where(ActivationGrant.sad_sha256 == sad_digest(sad)).with_for_update()
            ).scalar_one_or_none()
            credential = self._credential(session, key_id)
            if grant is None or grant.credential_id != credential.id:
                raise SadRejected("the SAD is not known for this credential (used, expired or another's)")
            if grant.expires_at <= utc_now() or grant.key_under_sad is None or grant.remaining <= 0:
                raise SadRejected("the SAD has expired or was used already; authorise again")
            if GrantKind(grant.kind) is not kind or grant.hash_algorithm != scheme.hash:
                raise SadRejected(f"the SAD was issued for {grant.kind} hashed with {grant.hash_algorithm}")
            if credential.state != CredentialState.ACTIVE or credential.sealed_key is None:
                raise StateConflict("this signing key was destroyed (revoked); it can no longer sign")
            authorised = set(grant.hashes.split("\n"))
            covered = document.hex() if document is not None else None
            asked = [covered] if covered is not None else [h.hex() for h in hashes]
            used = set(filter(None, grant.used_hashes.split("\n")))
            if any(h not in authorised for h in asked):
                raise SadRejected("a hash is not among those the SAD authorised")
            if any(h in used for h in asked) or len(asked) > grant.remaining:
                raise SadRejected("the SAD was used for this already")
            key_under_sad = grant.key_under_sad
            grant.used_hashes = "\n".join(sorted(used | set(asked)))
            grant.remaining -= len(asked)
            if kind is GrantKind.HASHES or grant.remaining == 0:
                grant.remaining, grant.key_under_sad = 0, None  # a hash SAD is used once, whole
            details = {
                "grant": grant.id,
                "hashes": [h.hex() for h in hashes],
                **({"document": covered} if covered else {}),
            }
            self._audit(session, actor, "credential.sign", key_id, details=details)
            algorithm = KeyAlgorithm(credential.algorithm)
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


def _check_pin(pin: str) -> None:
    if len(pin) < MIN_PIN_LENGTH:
        raise InvalidRequest(f"the PIN needs at least {MIN_PIN_LENGTH} characters")
    if any(not character.isprintable() for character in pin):
        raise InvalidRequest("the PIN may not contain control or invisible characters")


def _checked_hashes(hashes: Sequence[bytes], algorithm: str) -> list[bytes]:
    size = HASH_SIZES.get(algorithm)
    if size is None:
        raise InvalidRequest(f"unsupported hash algorithm {algorithm!r}")
    if not 1 <= len(hashes) <= MAX_HASHES:
        raise InvalidRequest(f"authorise between 1 and {MAX_HASHES} hashes at a time")
    if any(len(h) != size for h in hashes):
        raise InvalidRequest(f"every hash must be {size} bytes long for {algorithm}")
    if len(set(hashes)) != len(hashes):
        raise InvalidRequest("the same hash was given twice")
    return list(hashes)
