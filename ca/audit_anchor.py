"""The audit head anchored in the HSM, so that cutting the log short or restoring an older copy shows.

The head row's HMAC proves that a head was once real, not that it is the newest: an older head row (or a
whole older database) carries a valid HMAC too. So the newest head also lives outside the database, in a
private data object of the service token (see :meth:`ca.hsm.Token.write_tagged_text`), and `audit verify`
compares the two: an anchor ahead of the database means entries were lost, and it says how many.

Why no HMAC over the anchor: the object is CKA_PRIVATE, so only a session logged in with the service
token's user PIN can see or change it, and whoever holds that PIN can compute the head HMAC too; a MAC
would guard against nobody the token does not already keep out. What the anchor cannot resist is a
rollback of the token's own storage (a SoftHSM2 token folder copied back together with the database):
there the protection is only as good as the file system; a vendor HSM keeps its objects inside itself.

When it moves: every transaction that appended entries decides, at its commit (a ``before_commit`` hook,
after the session's last flush and while it still holds the head row's lock: FOR UPDATE on PostgreSQL,
the writers' turn and BEGIN IMMEDIATE on SQLite), whether the log still continues the anchored entry. If
it does, right after the COMMIT (``after_commit``) it hands the new head to the process's anchor mover
(:mod:`ca.anchor_moves`), which writes it soon after, at most once per ``MOVE_INTERVAL`` whatever the number
of commits; if it does not (a restore or a cut), the anchor is frozen inside the transaction itself.
Entries appended and then rolled back never touch the anchor.

Why after the COMMIT, and by a mover rather than by the committing request: the anchor write is a SoftHSM2
object rewrite that holds the token store exclusively, so it waits for every PKCS#11 call in flight in
every process (the signatures of other requests) and holds new ones back. Made before the COMMIT, that
wait happened inside the database's one global lock and set the pace of every audited action; made by
each request after its COMMIT, it still stopped every signer once per commit. The mover reads the anchor
and writes under the same exclusive lock and only ever raises it (same epoch, not frozen, higher entry),
so the anchor never goes back whatever order the writes of several processes land in.

What that costs: between a COMMIT and the move that covers it (at most ``MOVE_INTERVAL`` plus one write,
or until the HSM answers again if it failed just then, which is logged) the newest entries are not yet
vouched for by the anchor; a cut of exactly those entries in that moment, or a crash in it, is not seen.
`audit verify` and the restore ceremony first wait for their own process's moves, and every process waits
for its moves at exit. Every entry that was anchored stays protected, and the anchor itself stays
monotone. The one false alarm left is a database that refuses the COMMIT itself once every statement has
succeeded (disk full, connection lost) while a frozen anchor was written inside it: the anchor then counts
entries that never existed, and `audit verify` reports them missing until the operator acknowledges them.

When the database falls behind the anchor (a restore, or a cut), the anchor freezes where it was and
remembers where the log went back to (``fork``), so the count of lost entries survives new entries that
reuse their numbers; only the ceremony `govsign audit acknowledge-restore`, itself an audit entry,
moves it again, under a new epoch: (epoch, seq) never decreases.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from ca.anchor_moves import hand_over, settle
from ca.errors import HsmError
from ca.hsm import Token
from ca.store import AuditEntry, AuditHead, Database

__all__ = [
    "ANCHOR_APPLICATION",
    "RESTORE_ACKNOWLEDGED",
    "AcknowledgedGap",
    "Anchor",
    "AnchorCheck",
    "Gap",
    "check_anchor",
    "find_gap",
    "locked_head",
    "read_anchor",
    "request_reanchor",
    "settle",
    "track",
]

log = logging.getLogger("govsign.audit")
ANCHOR_APPLICATION = "govsign-audit-anchor"
RESTORE_ACKNOWLEDGED = "audit.restore-acknowledged"
_FORMAT = "v1"
_PENDING = "govsign.audit_anchor"
_ADVANCE = "govsign.audit_anchor.advance"


@dataclass(frozen=True)
class Anchor:
    """The newest head the service wrote: ``epoch`` counts acknowledged restores, ``since`` is the entry
    the anchor was first made at, ``fork`` the log's head when it was first seen behind the anchor."""

    epoch: int
    seq: int
    entry_hash: str
    since: int
    fork: int | None = None

    def encode(self) -> str:
        fork = "-" if self.fork is None else str(self.fork)
        return f"{_FORMAT}:{self.epoch}:{self.seq}:{self.entry_hash}:{self.since}:{fork}"

    @classmethod
    def decode(cls, text: str) -> Anchor:
        try:
            version, epoch, seq, entry_hash, since, fork = text.split(":")
            if version != _FORMAT or len(entry_hash) != 64:
                raise ValueError(version)
            return cls(int(epoch), int(seq), entry_hash, int(since), None if fork == "-" else int(fork))
        except ValueError:
            raise HsmError(f"the audit anchor in the HSM is unreadable ({text[:80]!r})") from None


@dataclass(frozen=True)
class Gap:
    """Entries the anchor vouched for that the log no longer holds: ``log_seq`` is where the log went back
    to, ``anchored_seq`` the newest entry the anchor holds."""

    anchored_seq: int
    log_seq: int

    @property
    def missing(self) -> int:
        return max(self.anchored_seq - self.log_seq, 0)

    def describe(self) -> str:
        if not self.missing:
            return f"entry {self.anchored_seq} is not the one the HSM anchor holds (the log was replaced)"
        noun = "entry is" if self.missing == 1 else "entries are"
        return f"{self.missing} {noun} missing ({self.log_seq + 1}..{self.anchored_seq})"


@dataclass(frozen=True)
class AcknowledgedGap:
    """A restore recorded by `govsign audit acknowledge-restore`: audit entry ``seq`` says who and why."""

    seq: int
    at: str
    actor: str
    lost: str
    reason: str


@dataclass(frozen=True)
class AnchorCheck:
    """The database's head against the anchor, for `audit verify`."""

    anchor: Anchor
    created: bool
    gap: Gap | None
    acknowledged: tuple[AcknowledgedGap, ...]
    settled: bool = True


@dataclass(frozen=True)
class _Pending:
    token: Token
    start_seq: int
    start_hash: str
    reanchor: bool = False


def read_anchor(token: Token) -> Anchor | None:
    text = token.read_tagged_text(ANCHOR_APPLICATION)
    return None if text is None else Anchor.decode(text)


def _write(token: Token, anchor: Anchor) -> None:
    token.write_tagged_text(ANCHOR_APPLICATION, anchor.encode())


_LOCKED_HEAD = select(AuditHead).where(AuditHead.id == 1).with_for_update()


def locked_head(session: Session) -> AuditHead:
    """The head row, locked until the transaction ends: every move of the anchor happens under it."""
    return session.execute(_LOCKED_HEAD).scalar_one()


def track(session: Session, token: Token, head_seq: int, head_hash: str) -> None:
    """Called by the append under the head's lock, before it moves the head: anchor at commit."""
    if _PENDING not in session.info:
        session.info[_PENDING] = _Pending(token, head_seq, head_hash)


def request_reanchor(session: Session) -> None:
    """The restore ceremony: at commit, move the anchor to the new head under a new epoch."""
    session.info[_PENDING] = replace(session.info[_PENDING], reanchor=True)


def _continues(session: Session, anchor: Anchor, head_seq: int, head_hash: str) -> bool:
    """Whether the log with this head still holds the anchored entry (so the anchor may move up to it)."""
    if anchor.seq == head_seq:
        return anchor.entry_hash == head_hash
    if anchor.seq > head_seq:
        return False
    anchored = select(AuditEntry.entry_hash).where(AuditEntry.seq == anchor.seq)
    return session.execute(anchored).scalar_one_or_none() == anchor.entry_hash


def find_gap(session: Session, anchor: Anchor, head_seq: int, head_hash: str) -> Gap | None:
    if anchor.fork is not None:
        return Gap(anchor.seq, anchor.fork)
    return None if _continues(session, anchor, head_seq, head_hash) else Gap(anchor.seq, head_seq)


@event.listens_for(Session, "before_commit")
def _anchor_at_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the outer transaction may still roll back
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is None:
        return
    session.flush()  # a flush that fails must fail before the anchor moves
    head = session.get(AuditHead, 1)
    if head is None:
        return
    anchor = read_anchor(pending.token)
    current = Anchor(0, head.seq, head.entry_hash, since=head.seq)
    if anchor is None:
        _write(pending.token, current)  # a deployment from before anchoring: its first append anchors it
    elif pending.reanchor:
        _write(pending.token, replace(current, epoch=anchor.epoch + 1, since=anchor.since))
    elif anchor.fork is not None:
        log.error(
            "audit log behind its HSM anchor (%s); anchor frozen", Gap(anchor.seq, anchor.fork).describe()
        )
    elif _continues(session, anchor, pending.start_seq, pending.start_hash):
        if head.seq > anchor.seq:
            session.info[_ADVANCE] = (pending.token, replace(current, epoch=anchor.epoch, since=anchor.since))
    else:
        _write(pending.token, replace(anchor, fork=pending.start_seq))
        log.error("audit log behind its HSM anchor (%s)", Gap(anchor.seq, pending.start_seq).describe())


@event.listens_for(Session, "after_commit")
def _advance_after_commit(session: Session) -> None:
    """Hand the entries just committed to the mover, which raises the anchor to them unless a later
    commit has moved it further (or the anchor was re-anchored or frozen since our commit decided)."""
    advance: tuple[Token, Anchor] | None = session.info.pop(_ADVANCE, None)
    if advance is None:
        return
    token, target = advance

    def forward(text: str | None) -> str | None:
        anchor = None if text is None else Anchor.decode(text)
        if anchor is None or anchor.epoch != target.epoch or anchor.fork is not None:
            return None  # re-anchored or frozen since our commit decided: that decision stands
        return target.encode() if target.seq > anchor.seq else None

    hand_over(token, ANCHOR_APPLICATION, (target.epoch, target.seq), forward)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_ADVANCE, None)


def check_anchor(database: Database, token: Token) -> AnchorCheck | None:
    """Compare the head with the anchor under the head's lock (creating the anchor at the current head
    for a deployment that has none), once this process's own moves are written; None when there is no
    head row at all; false in ``settled`` when a move of this process could not be written (the HSM
    failing), so that the comparison may be behind this process's newest entries."""
    settled = settle()
    with database.transaction() as session:
        head = session.execute(_LOCKED_HEAD).scalar_one_or_none()
        if head is None:
            return None
        anchor = read_anchor(token)
        created = anchor is None
        if anchor is None:
            anchor = Anchor(0, head.seq, head.entry_hash, since=head.seq)
            _write(token, anchor)
        acknowledged = session.execute(
            select(AuditEntry).where(AuditEntry.action == RESTORE_ACKNOWLEDGED).order_by(AuditEntry.seq)
        ).scalars()
        return AnchorCheck(
            anchor,
            created,
            find_gap(session, anchor, head.seq, head.entry_hash),
            tuple(_acknowledged(entry) for entry in acknowledged),
            settled,
        )


def _acknowledged(entry: AuditEntry) -> AcknowledgedGap:
    try:
        details: Any = json.loads(entry.details)
    except ValueError:
        details = None  # an edited entry: the chain check reports it
    if not isinstance(details, dict):
        details = {}
    return AcknowledgedGap(
        entry.seq, entry.at.isoformat(), entry.actor, str(details.get("lost")), str(details.get("reason"))
    )
