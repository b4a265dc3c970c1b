"""A range of the audit log, exported for an auditor as JSON signed by the audit key in the HSM.

The export carries every entry of the range with its chain hashes, the signed checkpoints inside it and
the public key, so it can be checked away from the server: the signature with `openssl dgst -verify`,
the chain by recomputing the hashes, the checkpoints against the same key. The export itself is audited.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from ca import clock
from ca.audit import AuditEvent, append, canonical_json
from ca.audit_checkpoints import public_key_pem, sign_with_audit_key
from ca.errors import InvalidRequest
from ca.hsm import Token
from ca.store import AuditCheckpoint, AuditEntry, AuditHead, Database

__all__ = ["EXPORT_SCHEMA", "MAX_EXPORT_ENTRIES", "export_range"]

EXPORT_SCHEMA = "govsign-audit-export/1"
MAX_EXPORT_ENTRIES = 100_000
SIGNED_BYTES = "ECDSA with SHA-256 over the canonical JSON of 'export': keys sorted, no whitespace, UTF-8"


def export_range(
    database: Database, token: Token, first: int, last: int | None, *, actor: str
) -> dict[str, Any]:
    """Entries ``first``..``last`` (the newest when None) and their checkpoints, signed."""
    with database.transaction() as session:
        head = session.get(AuditHead, 1)
        newest = head.seq if head is not None else 0
        last = newest if last is None else min(last, newest)
        if first < 1 or first > last:
            raise InvalidRequest(f"choose a range within 1..{newest} (asked for {first}..{last})")
        if last - first + 1 > MAX_EXPORT_ENTRIES:
            raise InvalidRequest(f"export at most {MAX_EXPORT_ENTRIES:,} entries at a time")
        entries = [
            _entry(entry)
            for entry in session.execute(
                select(AuditEntry).where(AuditEntry.seq.between(first, last)).order_by(AuditEntry.seq)
            ).scalars()
        ]
        checkpoints = session.execute(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.seq.between(first, last))
            .order_by(AuditCheckpoint.seq)
        ).scalars()
        document = {
            "schema": EXPORT_SCHEMA,
            "first": first,
            "last": last,
            "log_length": newest,
            "exported_at": clock.now().isoformat(),
            "exported_by": actor,
            "entries": entries,
            "checkpoints": [
                {"seq": c.seq, "entry_hash": c.entry_hash, "at": c.at.isoformat(), "signature": c.signature}
                for c in checkpoints
            ],
        }
        payload = canonical_json(document).encode("utf-8")
        signature = sign_with_audit_key(session, token, payload)
        details = {"entries": len(entries), "sha256": hashlib.sha256(payload).hexdigest()}
        append(session, token, AuditEvent(actor, "audit.export", f"audit:{first}-{last}", details=details))
        return {
            "export": document,
            "signature": signature,
            "signed_bytes": SIGNED_BYTES,
            "public_key": public_key_pem(session, token),
        }


def _entry(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "object": entry.object,
        "result": entry.result,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
        "entry_hash": entry.entry_hash,
    }
