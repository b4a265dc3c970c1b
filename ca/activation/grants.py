"""Step D2 of docs/SOLE-CONTROL.md: whether a grant covers a request, and spending it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ca import audit
from ca.activation.records import (
    ActivationGrant,
    CredentialState,
    GrantKind,
    SigningCredential,
    credential_row,
)
from ca.activation.rules import SadRejected
from ca.errors import StateConflict
from ca.hsm import HashName, KeyAlgorithm, Token
from ca.store import Database, utc_now

__all__ = ["Claim", "forget_expired", "lock_credentials", "spend", "spend_claim"]


@dataclass(frozen=True)
class Claim:
    """One signature request's claim on a grant: the SAD's digest, never the SAD itself."""

    key_id: str
    sad_sha256: str
    kind: GrantKind
    hash_name: HashName
    hashes: tuple[bytes, ...]
    document: bytes | None  # a document grant's approved document (its SHA-256)
    actor: str


def lock_credentials(session: Session, claims: Sequence[Claim]) -> None:
    """Lock the credentials of a group of claims (:mod:`ca.group_commit`) in key order, before any claim
    takes the audit head: a claim locks its credential and then the head, as authorize, unlock, a PIN
    change and destroy do, so a group whose first claim held the head while a later one waited for its
    credential would deadlock with any of them holding that credential (and with another process's group
    locking the same two in the other order)."""
    key_ids = sorted({claim.key_id for claim in claims})
    query = select(SigningCredential.id).where(SigningCredential.key_id.in_(key_ids))
    session.execute(query.order_by(SigningCredential.key_id).with_for_update()).all()


def spend_claim(session: Session, claim: Claim, *, audit_token: Token) -> tuple[bytes, KeyAlgorithm]:
    """Step D2 in ``session``: spend the grant for ``claim`` and audit it (``credential.sign``, with the
    hashes); the wrapped key under the SAD and the key's algorithm. Raises on any refusal, before the
    caller's transaction (or savepoint) commits anything."""
    credential = credential_row(session, claim.key_id)  # first, as destroy() locks it: no deadlock
    grant = session.execute(
        select(ActivationGrant).where(ActivationGrant.sad_sha256 == claim.sad_sha256).with_for_update()
    ).scalar_one_or_none()
    covered = claim.document.hex() if claim.document is not None else None
    asked = [covered] if covered else [h.hex() for h in claim.hashes]
    key_under_sad, grant_id = spend(grant, credential.id, claim.kind, claim.hash_name, asked)
    if credential.state != CredentialState.ACTIVE or credential.sealed_key is None:
        raise StateConflict("this signing key was destroyed (revoked); it can no longer sign")
    details = {
        "grant": grant_id,
        "hashes": [h.hex() for h in claim.hashes],
        **({"document": covered} if covered else {}),
    }
    event = audit.AuditEvent(claim.actor, "credential.sign", f"credential:{claim.key_id}", details=details)
    audit.append(session, audit_token, event)
    return key_under_sad, KeyAlgorithm(credential.algorithm)


def spend(
    grant: ActivationGrant | None, credential_id: int, kind: GrantKind, hash_name: str, asked: list[str]
) -> tuple[bytes, int]:
    """Check ``grant`` (locked by the caller) covers ``asked`` (hex hashes, or the one document's hash)
    for this credential, kind and hash, and spend it; the wrapped key it keeps under its SAD, and its id.

    A hash grant is used once, whole; a document grant once per document, until every one is signed. The
    hashes are counted, not merely listed: a batch may hold two byte-identical files (the same form
    filed twice), and the holder who approved both may sign each, once.
    """
    if grant is None or grant.credential_id != credential_id:
        raise SadRejected("the SAD is not known for this credential (used, expired or another's)")
    if grant.expires_at <= utc_now() or grant.key_under_sad is None or grant.remaining <= 0:
        raise SadRejected("the SAD has expired or was used already; authorise again")
    if GrantKind(grant.kind) is not kind or grant.hash_algorithm != hash_name:
        raise SadRejected(f"the SAD was issued for {grant.kind} hashed with {grant.hash_algorithm}")
    authorised = Counter(grant.hashes.split("\n"))
    used = Counter(filter(None, grant.used_hashes.split("\n")))
    wanted = Counter(asked)
    if any(h not in authorised for h in wanted):
        raise SadRejected("a hash is not among those the SAD authorised")
    if any(used[h] + n > authorised[h] for h, n in wanted.items()) or len(asked) > grant.remaining:
        raise SadRejected("the SAD was used for this already")
    key_under_sad = grant.key_under_sad
    grant.used_hashes = "\n".join(sorted((used + wanted).elements()))
    grant.remaining -= len(asked)
    if kind is GrantKind.HASHES or grant.remaining == 0:
        grant.remaining, grant.key_under_sad = 0, None
    return key_under_sad, grant.id


def forget_expired(database: Database) -> int:
    """Delete grants past their expiry: each keeps the wrapped key under its SAD, which nobody may use
    any more; the maintenance loop calls this. Returns how many went."""
    with database.transaction() as session:
        result = session.execute(delete(ActivationGrant).where(ActivationGrant.expires_at < utc_now()))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
