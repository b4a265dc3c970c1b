"""Reading the audit log: entries chosen by action, actor, object and time, newest first.

The auditor's console browses the log with these filters, and a certificate's page shows its own history
(the entries about the certificate and about its key). Reading changes nothing and is not itself audited;
exporting a range is (:mod:`ca.audit_export`), as is verifying the chain (:func:`ca.audit.verify_log`).
Queries go newest first by sequence number (the primary key) and stop at ``limit``, so a page costs the
same on a log of millions of entries.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from ca.errors import InvalidRequest
from ca.store import AuditEntry, Database

__all__ = ["MAX_ENTRIES", "AuditQuery", "AuditRecord", "search_log"]

MAX_ENTRIES = 500


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to read. Every filter is optional; an empty query reads the newest entries.

    ``action``: exact action or a prefix ending in a dot (``certificate.`` for every certificate action);
    ``actor``: a part of the actor's name, in any case; ``objects``: the exact objects (``certificate:1f2e...``);
    ``since``/``until``: aware times, ``until`` excluded.
    """

    action: str = ""
    actor: str = ""
    objects: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise InvalidRequest(f"{moment.isoformat()} has no time zone")
        if self.since and self.until and self.since >= self.until:
            raise InvalidRequest("the start of the time range must come before its end")
        if not 1 <= self.limit <= MAX_ENTRIES:
            raise InvalidRequest(f"read 1 to {MAX_ENTRIES} entries at a time")

    def statement(self) -> Select[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(self.limit)
        action = self.action.strip()
        if action.endswith("."):
            query = query.where(AuditEntry.action.startswith(action, autoescape=True))
        elif action:
            query = query.where(AuditEntry.action == action)
        if self.actor.strip():
            query = query.where(AuditEntry.actor.icontains(self.actor.strip(), autoescape=True))
        if self.objects:
            query = query.where(AuditEntry.object.in_(self.objects))
        if self.since is not None:
            query = query.where(AuditEntry.at >= self.since.astimezone(dt.UTC))
        if self.until is not None:
            query = query.where(AuditEntry.at < self.until.astimezone(dt.UTC))
        return query


@dataclass(frozen=True)
class AuditRecord:
    """One entry as people read it (no ORM object leaves this module)."""

    seq: int
    at: dt.datetime
    actor: str
    action: str
    object: str
    result: str
    details: dict[str, Any]


def search_log(database: Database, query: AuditQuery) -> Sequence[AuditRecord]:
    """The entries ``query`` chooses, newest first, at most ``query.limit``."""
    with database.reading() as session:
        return [
            AuditRecord(e.seq, e.at, e.actor, e.action, e.object, e.result, _details(e.details))
            for e in session.execute(query.statement()).scalars()
        ]


def _details(stored: str) -> dict[str, Any]:
    loaded = json.loads(stored) if stored else {}
    return loaded if isinstance(loaded, dict) else {"value": loaded}
