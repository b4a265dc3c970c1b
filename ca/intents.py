"""Issuance intents a crash left unfinished, and how they end (issue 14, "intents and orphans").

An intent is written before anything is signed (docs/ISSUANCE-CYCLE.md, step 2) and both phases of an
issuance run in one call, within seconds; so an intent still ``pending``, ``linted`` or ``signing`` long
after it started is the trace of a process that died. Left alone it keeps its key: a wrapped credential
waiting for a holder who will never get a certificate for it, or a persistent key in the service token.

Resolving one: if the certificate of its serial was stored after all, the intent is completed (it points at
the certificate); otherwise it is abandoned — marked failed, its key destroyed (the credential shredded in
the same transaction; a service key pair removed from the token after the commit) and audited. The serial
stays reserved by its intent, so it is never used for another certificate. An intent younger than
``MIN_AGE`` is refused: a live issuance may still own it, and abandoning it under that process would leave
a certificate whose key is gone. ``govsign serve`` resolves intents older than ``STALE_AFTER`` by itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ca import audit
from ca.activation.records import SigningCredential
from ca.authority import Authority
from ca.errors import CaError, NotFound, StateConflict
from ca.store import CertificateRecord, IssuanceIntent, utc_now

__all__ = ["MIN_AGE", "STALE_AFTER", "Resolution", "resolve_intent", "resolve_stale_intents", "stale_intents"]

log = logging.getLogger("govsign.intents")
MIN_AGE = dt.timedelta(minutes=10)
STALE_AFTER = dt.timedelta(hours=1)
UNFINISHED = ("pending", "linted", "signing")


class Resolution(StrEnum):
    COMPLETED = "completed"  # the certificate was stored after all
    ABANDONED = "abandoned"  # nothing was stored: the intent failed, its key destroyed


@dataclass(frozen=True)
class Resolved:
    """How one intent ended, and whether a key had to be destroyed for it."""

    intent_id: int
    serial: str
    resolution: Resolution
    key_destroyed: bool


def resolve_intent(
    authority: Authority, intent_id: int, *, actor: str, min_age: dt.timedelta = MIN_AGE
) -> Resolved:
    """Complete or abandon one unfinished intent (see the module docstring)."""
    service_key: bytes | None = None
    with authority.database.transaction() as session:
        intent = session.execute(
            select(IssuanceIntent).where(IssuanceIntent.id == intent_id).with_for_update()
        ).scalar_one_or_none()
        if intent is None:
            raise NotFound(f"no issuance intent {intent_id}")
        if intent.state not in UNFINISHED:
            raise StateConflict(f"issuance intent {intent_id} is already {intent.state}; nothing to resolve")
        younger = intent.updated_at + min_age - utc_now()
        if younger > dt.timedelta(0):
            raise StateConflict(
                f"issuance intent {intent_id} was touched {min_age - younger} ago: an issuance may still be "
                f"running; try again after {intent.updated_at + min_age:%H:%M:%S} UTC"
            )
        stored = session.execute(
            select(CertificateRecord.id).where(
                CertificateRecord.issuer_id == intent.issuer_id, CertificateRecord.serial == intent.serial
            )
        ).scalar_one_or_none()
        destroyed = False
        if stored is not None:
            intent.state, intent.certificate_id, resolution = "done", stored, Resolution.COMPLETED
        else:
            intent.state, resolution = "failed", Resolution.ABANDONED
            intent.error = "abandoned: the issuance stopped before its certificate was stored"
            destroyed, service_key = _destroy_key(authority, session, intent.key_id, actor)
        intent.updated_at = utc_now()
        audit.append(
            session,
            authority.token,
            audit.AuditEvent(
                actor=actor,
                action="certificate.intent-resolve",
                object=f"intent:{intent.id}",
                details={"serial": intent.serial, "resolution": resolution.value, "key_destroyed": destroyed},
            ),
        )
        serial = intent.serial
    if service_key is not None:  # after the commit: the HSM never waits inside the database's lock
        authority.token.destroy_key_pair(service_key)
    return Resolved(intent_id, serial, resolution, destroyed)


def _destroy_key(
    authority: Authority, session: Session, key_id: str | None, actor: str
) -> tuple[bool, bytes | None]:
    """Shred the intent's credential in ``session``; or name the service key pair to remove after the
    commit. (whether a key goes, the service key's id). A key a stored certificate carries is kept: a
    renewal's or a change of information's intent names the holder's existing key, live under a valid
    certificate (a revocation that ends a key shreds it itself)."""
    if key_id is None:
        return False, None
    carried = session.execute(
        select(CertificateRecord.id).where(CertificateRecord.key_id == key_id).limit(1)
    ).first()
    if carried is not None:
        return False, None
    credential = session.execute(
        select(SigningCredential.id).where(SigningCredential.key_id == key_id)
    ).scalar_one_or_none()
    if credential is not None:
        authority.activation_module().destroy(session, key_id, reason="issuance abandoned", actor=actor)
        return True, None
    return True, bytes.fromhex(key_id)


def stale_intents(cutoff: dt.datetime) -> Select[int]:
    """The maintenance round's query: unfinished intents untouched since ``cutoff`` (the ``state`` index:
    nearly every intent is done, so few rows are looked at)."""
    return select(IssuanceIntent.id).where(
        IssuanceIntent.state.in_(UNFINISHED), IssuanceIntent.updated_at < cutoff
    )


def resolve_stale_intents(authority: Authority, *, actor: str) -> list[Resolved]:
    """Every unfinished intent untouched for ``STALE_AFTER`` resolved (the maintenance round's part); one
    that fails is logged and left for the next round."""
    cutoff = utc_now() - STALE_AFTER
    with authority.database.reading() as session:
        stale = list(session.execute(stale_intents(cutoff)).scalars())
    resolved = []
    for intent_id in stale:
        try:
            resolved.append(resolve_intent(authority, intent_id, actor=actor, min_age=STALE_AFTER))
        except CaError as error:
            log.warning("issuance intent %s not resolved: %s", intent_id, error)
    return resolved
