"""The audit tables copied and put back with plain SQL, as an attacker with database access (but no HSM)
or a restore from a backup would: shared by the audit test modules (chain and checkpoints; the anchor)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

__all__ = ["AuditTables", "checkpoint_rows", "copy_audit_tables", "restore_audit_tables"]


def _entry_rows(connection: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in connection.execute(text("SELECT * FROM audit_log ORDER BY seq"))]


@dataclass(frozen=True)
class AuditTables:
    """A copy of the audit tables' rows, as a backup would hold them."""

    entries: list[dict[str, Any]]
    head: dict[str, Any]
    checkpoints: list[dict[str, Any]]


def copy_audit_tables(connection: Any) -> AuditTables:
    head = dict(connection.execute(text("SELECT * FROM audit_head")).one()._mapping)
    return AuditTables(_entry_rows(connection), head, checkpoint_rows(connection))


def restore_audit_tables(engine: Any, copy: AuditTables) -> None:
    """Put the audit tables back as ``copy`` holds them (what restoring them from a backup does)."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_checkpoints"))
        for row in copy.checkpoints:
            connection.execute(
                text(
                    "INSERT INTO audit_checkpoints (seq, entry_hash, at, signature)"
                    " VALUES (:seq, :entry_hash, :at, :signature)"
                ),
                row,
            )
        connection.execute(text("DELETE FROM audit_log"))
        for row in copy.entries:
            connection.execute(
                text(
                    "INSERT INTO audit_log (seq, at, actor, action, object, result, details, prev_hash, entry_hash)"
                    " VALUES (:seq, :at, :actor, :action, :object, :result, :details, :prev_hash, :entry_hash)"
                ),
                row,
            )
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, entry_hash = :entry_hash, mac = :mac WHERE id = 1"),
            copy.head,
        )


def checkpoint_rows(connection: Any) -> list[dict[str, Any]]:
    rows = connection.execute(text("SELECT * FROM audit_checkpoints ORDER BY seq"))
    return [dict(row._mapping) for row in rows]
