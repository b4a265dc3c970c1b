"""Step D2 of docs/SOLE-CONTROL.md: whether a grant covers a request, and spending it."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import delete

from ca.activation.records import ActivationGrant, GrantKind
from ca.activation.rules import SadRejected
from ca.store import Database, utc_now

__all__ = ["forget_expired", "spend"]


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
