"""`govsign audit verify` catches every edit an attacker with database access but no HSM can make."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text

from ca.audit import AuditEvent, append
from tests.conftest import Deployment

Tamper = Callable[[Any, list[dict[str, Any]]], None]


def _rows(connection: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in connection.execute(text("SELECT * FROM audit_log ORDER BY seq"))]


@contextmanager
def _tampered(deployment: Deployment, tamper: Tamper) -> Iterator[None]:
    """Apply ``tamper`` to the audit tables with plain SQL, then put every row back as it was."""
    engine = deployment.authority.database.engine
    with engine.begin() as connection:
        entries = _rows(connection)
        head = dict(connection.execute(text("SELECT * FROM audit_head")).one()._mapping)
        tamper(connection, entries)
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_log"))
            for row in entries:
                connection.execute(
                    text(
                        "INSERT INTO audit_log (seq, at, actor, action, object, result, details, prev_hash, entry_hash)"
                        " VALUES (:seq, :at, :actor, :action, :object, :result, :details, :prev_hash, :entry_hash)"
                    ),
                    row,
                )
            connection.execute(
                text("UPDATE audit_head SET seq = :seq, entry_hash = :entry_hash, mac = :mac WHERE id = 1"),
                head,
            )


@pytest.fixture
def busy_log(deployment: Deployment) -> Deployment:
    """A log with a few more entries than the ceremony made, so there is a middle and an end."""
    with deployment.authority.database.transaction() as session:
        for number in range(3):
            append(
                session,
                deployment.authority.token,
                AuditEvent("auditor-test", "test.event", f"object:{number}"),
            )
    return deployment


def _change_middle(connection: Any, entries: list[dict[str, Any]]) -> None:
    middle = entries[len(entries) // 2]
    connection.execute(
        text("UPDATE audit_log SET details = :d WHERE seq = :s"), {"d": '{"edited":true}', "s": middle["seq"]}
    )


def _delete_last(connection: Any, entries: list[dict[str, Any]]) -> None:
    connection.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": entries[-1]["seq"]})


def _delete_middle(connection: Any, entries: list[dict[str, Any]]) -> None:
    connection.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": entries[len(entries) // 2]["seq"]})


def _delete_last_and_rewind_head(connection: Any, entries: list[dict[str, Any]]) -> None:
    """The careful attacker: remove the newest entry and make the head point at the one before."""
    _delete_last(connection, entries)
    previous = entries[-2]
    connection.execute(
        text("UPDATE audit_head SET seq = :s, entry_hash = :h WHERE id = 1"),
        {"s": previous["seq"], "h": previous["entry_hash"]},
    )


def _insert_chained_entry(connection: Any, entries: list[dict[str, Any]]) -> None:
    """Append an entry whose hash links correctly: only the head's HSM HMAC can betray it."""
    last = entries[-1]
    row = {**last, "seq": last["seq"] + 1, "action": "certificate.issue", "object": "certificate:forged"}
    material = [
        row["seq"],
        last["at"].isoformat() if hasattr(last["at"], "isoformat") else str(last["at"]),
        row["actor"],
        row["action"],
        row["object"],
        row["result"],
        row["details"],
        last["entry_hash"],
    ]
    row["prev_hash"] = last["entry_hash"]
    row["entry_hash"] = hashlib.sha256(
        json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    connection.execute(
        text(
            "INSERT INTO audit_log (seq, at, actor, action, object, result, details, prev_hash, entry_hash)"
            " VALUES (:seq, :at, :actor, :action, :object, :result, :details, :prev_hash, :entry_hash)"
        ),
        row,
    )


CASES: dict[str, tuple[Tamper, str]] = {
    "changed_entry": (_change_middle, "was changed after it was written"),
    "deleted_last_entry": (_delete_last, "were removed from the end of the log"),
    "deleted_middle_entry": (_delete_middle, "are missing (removed)"),
    "deleted_last_entry_and_rewound_head": (_delete_last_and_rewind_head, "the audit head was altered"),
    "inserted_entry": (_insert_chained_entry, "appended without the HSM"),
}


def test_untouched_log_verifies(busy_log: Deployment) -> None:
    result = busy_log.cli("audit", "verify")
    assert result.returncode == 0 and "audit log intact" in result.stdout


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampering_makes_audit_verify_fail_and_say_which(busy_log: Deployment, case: str) -> None:
    tamper, expected = CASES[case]
    with _tampered(busy_log, tamper):
        result = busy_log.cli("audit", "verify", check=False)
        assert result.returncode == 1, result.stdout + result.stderr
        assert expected in result.stderr, result.stderr
    assert busy_log.cli("audit", "verify").returncode == 0
