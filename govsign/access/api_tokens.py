"""API tokens of administrators and signing accounts: random, stored as SHA-256, expiring, revocable.

A token is the prefix of its kind (``gsa_`` administrators, ``gsk_`` signing accounts) and 256 random
bits; only its hash is kept. Its scope is its holder's: an administrator's role, an account's own
certificate. It expires (a year by default) and can be reissued or revoked on the server at any time,
each change audited; a revoked token's hash is replaced by one of a token nobody was ever given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.errors import InvalidRequest, NotFound
from ca.store import utc_now
from govsign.access.errors import AccessError

__all__ = ["DEFAULT_DAYS", "hash_token", "new_token", "refuse_if_expired", "reissue_token"]

DEFAULT_DAYS = 365


def hash_token(token: str) -> str:
    """How an API token is stored and looked up: never the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(prefix: str, days: int = DEFAULT_DAYS) -> tuple[str, str, dt.datetime]:
    """(token, its hash, when it expires)."""
    if not 1 <= days <= 3 * 365:
        raise InvalidRequest("a token lives 1 to 1095 days")
    token = prefix + secrets.token_urlsafe(32)
    return token, hash_token(token), utc_now() + dt.timedelta(days=days)


def refuse_if_expired(expires_at: dt.datetime | None, refuse: type[AccessError]) -> None:
    if expires_at is not None and utc_now() >= expires_at:
        raise refuse(f"this API token expired on {expires_at:%Y-%m-%d}; ask for a new one")


def reissue_token(
    authority: Authority, model: Any, subject_id: int, prefix: str, *, revoke: bool, days: int, actor: str
) -> str | None:
    """A new token for ``model`` row ``subject_id`` (the old one stops working), or none at all when
    ``revoke``; returns the new token, shown once."""
    token, digest, expires = new_token(prefix, days)
    with authority.database.transaction() as session:
        row = session.get(model, subject_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no {model.__tablename__.rstrip('s')} {subject_id}")
        row.token_sha256 = hash_token(secrets.token_urlsafe(32)) if revoke else digest
        row.token_expires_at = expires
        action = "token.revoke" if revoke else "token.reissue"
        details = {} if revoke else {"expires": expires.isoformat()}
        append(
            session,
            authority.token,
            AuditEvent(actor, action, f"{model.__tablename__}:{subject_id}", details=details),
        )
    return None if revoke else token
