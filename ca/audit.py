"""The tamper-evident audit log: an append-only hash chain with an HSM-authenticated, HSM-anchored head.

Each entry stores the hash of the one before it, so changing or inserting an entry breaks the chain. The
chain alone cannot show that the newest entries were cut off, so the head (last sequence number and hash)
carries an HMAC-SHA256 made with a secret key that never leaves the service token: whoever edits the
database without the HSM cannot produce a head for a shorter chain. An older head row keeps a valid HMAC,
though, so the newest head is also anchored in the token (:mod:`ca.audit_anchor`), and a log cut short or
restored from an older copy fails verification until the restore is acknowledged in the log. Entries
are appended inside the caller's transaction, with the head row locked, so concurrent processes keep one
order and an action and its audit entry commit or vanish together.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from ca.audit_anchor import (
    RESTORE_ACKNOWLEDGED,
    AcknowledgedGap,
    AnchorCheck,
    check_anchor,
    find_gap,
    locked_head,
    read_anchor,
    request_reanchor,
    settle,
    track,
)
from ca.audit_checkpoints import CHECKPOINT_EVERY, checkpoint_if_due, verify_checkpoints
from ca.correlation import REQUEST_ID
from ca.errors import InvalidRequest, StateConflict
from ca.hsm import Token
from ca.store import AuditEntry, AuditHead, Database, utc_now

__all__ = [
    "HEAD_KEY_LABEL",
    "AuditEvent",
    "acknowledge_restore",
    "append",
    "initialise_head",
    "record",
    "verify_log",
]

HEAD_KEY_LABEL = "govsign-audit-head"
GENESIS_HASH = "0" * 64
_HEAD_MAC_DUE = "govsign.audit_head_mac"


@dataclass(frozen=True)
class AuditEvent:
    """What happened, for the log: who did what to which object, with what outcome."""

    actor: str
    action: str
    object: str
    result: str = "success"
    details: Mapping[str, Any] | None = None


def canonical_json(value: Any) -> str:
    """The one JSON form hashed and signed: keys sorted, no whitespace, UTF-8 characters as they are."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _entry_hash(entry: AuditEntry) -> str:
    material = [
        entry.seq,
        entry.at.isoformat(),
        entry.actor,
        entry.action,
        entry.object,
        entry.result,
        entry.details,
        entry.prev_hash,
    ]
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()


def _head_message(seq: int, entry_hash: str) -> bytes:
    return f"govsign-audit-head:{seq}:{entry_hash}".encode("ascii")


def initialise_head(session: Session, token: Token) -> None:
    """Create the HMAC key in the token and the empty head row; called once by `govsign init`."""
    token.ensure_hmac_key(HEAD_KEY_LABEL)
    mac = token.hmac_sha256(HEAD_KEY_LABEL, _head_message(0, GENESIS_HASH)).hex()
    session.add(AuditHead(id=1, seq=0, entry_hash=GENESIS_HASH, mac=mac))


def append(session: Session, token: Token, event: AuditEvent) -> AuditEntry:
    """Append ``event`` in ``session``'s transaction, holding the head row's lock until it commits."""
    head = locked_head(session)
    track(session, token, head.seq, head.entry_hash)
    entry = AuditEntry(
        seq=head.seq + 1,
        at=utc_now(),
        actor=event.actor,
        action=event.action,
        object=event.object,
        result=event.result,
        details=canonical_json(_with_request(event.details)),
        prev_hash=head.entry_hash,
    )
    entry.entry_hash = _entry_hash(entry)
    session.add(entry)
    head.seq = entry.seq
    head.entry_hash = entry.entry_hash
    session.info[_HEAD_MAC_DUE] = token  # one HSM HMAC per transaction, at its commit
    checkpoint_if_due(session, token, entry.seq, entry.entry_hash, entry.at)
    session.flush()
    return entry


@event.listens_for(Session, "before_commit")
def _mac_head_at_commit(session: Session) -> None:
    """The head's HMAC over the transaction's last entry, made once however many entries it appended
    (a batch's, a group commit's): the head is locked until the COMMIT, so nobody sees it without it."""
    if session.in_nested_transaction():
        return
    token: Token | None = session.info.pop(_HEAD_MAC_DUE, None)
    head = None if token is None else session.get(AuditHead, 1)
    if token is not None and head is not None:
        head.mac = token.hmac_sha256(HEAD_KEY_LABEL, _head_message(head.seq, head.entry_hash)).hex()


@event.listens_for(Session, "after_soft_rollback")
def _forget_mac_on_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(_HEAD_MAC_DUE, None)


def _with_request(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """The event's details and, inside an HTTP request, its id (``request_id``), which ties the entry to
    the access log; kept in the details so the chain's hashed fields stay what they always were."""
    request_id = REQUEST_ID.get()
    if request_id is None:
        return dict(details or {})
    return {"request_id": request_id, **(details or {})}


def record(database: Database, token: Token, event: AuditEvent) -> None:
    """Append ``event`` in a transaction of its own, for actions outside the CA (signing, logins)."""
    with database.transaction() as session:
        append(session, token, event)


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of :func:`verify_log`: how many entries were checked and every problem found."""

    entries: int
    checkpoints: int
    problems: list[str]
    anchor: AnchorCheck | None = None

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_log(database: Database, token: Token) -> AuditVerification:
    """Re-walk the whole chain, check the head's HMAC and compare the head with its HSM anchor; report each
    entry changed, inserted or removed, and how many are missing after a cut or an unacknowledged restore."""
    problems: list[str] = []
    expected_seq, previous_hash, count = 1, GENESIS_HASH, 0
    checkpointed: dict[int, str] = {}
    with database.transaction() as session:
        head = session.get(AuditHead, 1)
        entries = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
        for entry in entries:
            count += 1
            if entry.seq != expected_seq:
                problems.append(
                    f"entries {expected_seq}..{entry.seq - 1} are missing (removed)"
                    if entry.seq > expected_seq
                    else f"entry {entry.seq} is out of order"
                )
            if entry.prev_hash != previous_hash:
                problems.append(
                    f"entry {entry.seq} does not link to the entry before it (inserted or reordered)"
                )
            recomputed = _entry_hash(entry)
            if recomputed != entry.entry_hash:
                problems.append(f"entry {entry.seq} was changed after it was written")
            if entry.seq % CHECKPOINT_EVERY == 0:
                checkpointed[entry.seq] = recomputed
            expected_seq, previous_hash = entry.seq + 1, entry.entry_hash
        last_seq = expected_seq - 1
        checkpoints, checkpoint_problems = verify_checkpoints(session, token, checkpointed, last_seq)
        problems += checkpoint_problems
        if head is None:
            problems.append("the audit head is missing")
            return AuditVerification(count, checkpoints, problems)
        expected_mac = token.hmac_sha256(HEAD_KEY_LABEL, _head_message(head.seq, head.entry_hash)).hex()
        if not hmac.compare_digest(expected_mac, head.mac):
            problems.append("the audit head was altered (its HSM HMAC does not match)")
        if head.seq > last_seq:
            problems.append(f"entries {last_seq + 1}..{head.seq} were removed from the end of the log")
        elif head.seq < last_seq:
            problems.append(f"entries {head.seq + 1}..{last_seq} were appended without the HSM (inserted)")
        elif head.entry_hash != previous_hash:
            problems.append(f"the newest entry {last_seq} is not the one the head vouches for")
    anchored = check_anchor(database, token)
    if anchored is not None and not anchored.settled:
        problems.append(
            "the HSM did not take this process's newest anchor move (see the log); the check above may be"
            " behind the newest entries: run `govsign audit verify` again once the HSM answers"
        )
    if anchored is not None and anchored.gap is not None:
        went_back = "went back to" if anchored.anchor.fork is not None else "ends at"
        problems.append(
            f"{anchored.gap.describe()}: the HSM anchor holds entry {anchored.anchor.seq} but the log"
            f" {went_back} entry {anchored.gap.log_seq} (restored from an older copy, or cut short); after a"
            " deliberate restore from backup, record it with `govsign audit acknowledge-restore --reason ...`"
        )
    return AuditVerification(count, checkpoints, problems, anchored)


def acknowledge_restore(database: Database, token: Token, reason: str, *, actor: str) -> AcknowledgedGap:
    """The ceremony after a deliberate restore from backup: record the lost entries as an audit entry of
    its own (so the loss stays in the log for good) and move the HSM anchor to it, under a new epoch."""
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("say why the log was restored (--reason)")
    if not settle():  # this process's own entries are anchored before the gap is measured
        raise StateConflict("the HSM did not take this process's newest anchor move; try again shortly")
    with database.transaction() as session:
        head = locked_head(session)
        anchor = read_anchor(token)
        gap = None if anchor is None else find_gap(session, anchor, head.seq, head.entry_hash)
        if anchor is None or gap is None:
            raise StateConflict("the audit log matches its HSM anchor: there is no restore to acknowledge")
        lost = gap.describe()
        details = {
            "lost": lost,
            "missing": gap.missing,
            "anchored_seq": anchor.seq,
            "anchored_hash": anchor.entry_hash,
            "log_seq": gap.log_seq,
            "epoch": anchor.epoch + 1,
            "reason": reason,
        }
        event = AuditEvent(
            actor, RESTORE_ACKNOWLEDGED, f"audit:{gap.log_seq + 1}-{anchor.seq}", details=details
        )
        entry = append(session, token, event)
        request_reanchor(session)
        return AcknowledgedGap(entry.seq, entry.at.isoformat(), actor, lost, reason)
