"""`govsign audit verify` catches every edit an attacker with database access but no HSM can make."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ca.audit import AuditEvent, append, record, verify_log
from ca.audit_anchor import ANCHOR_APPLICATION, Anchor, read_anchor
from ca.audit_checkpoints import CHECKPOINT_EVERY
from tests.conftest import Deployment, administrator_token, running_server

Tamper = Callable[[Any, list[dict[str, Any]]], None]


def _rows(connection: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in connection.execute(text("SELECT * FROM audit_log ORDER BY seq"))]


@dataclass(frozen=True)
class AuditTables:
    """A copy of the audit tables' rows, as a backup would hold them."""

    entries: list[dict[str, Any]]
    head: dict[str, Any]
    checkpoints: list[dict[str, Any]]


def _copy_audit_tables(connection: Any) -> AuditTables:
    head = dict(connection.execute(text("SELECT * FROM audit_head")).one()._mapping)
    return AuditTables(_rows(connection), head, _checkpoints(connection))


def _restore_audit_tables(engine: Any, copy: AuditTables) -> None:
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


@contextmanager
def _tampered(deployment: Deployment, tamper: Tamper) -> Iterator[None]:
    """Apply ``tamper`` to the audit tables with plain SQL, then put every row back as it was."""
    engine = deployment.authority.database.engine
    with engine.begin() as connection:
        original = _copy_audit_tables(connection)
        tamper(connection, original.entries)
    try:
        yield
    finally:
        _restore_audit_tables(engine, original)


def _checkpoints(connection: Any) -> list[dict[str, Any]]:
    rows = connection.execute(text("SELECT * FROM audit_checkpoints ORDER BY seq"))
    return [dict(row._mapping) for row in rows]


@pytest.fixture
def busy_log(deployment: Deployment) -> Deployment:
    """A log past its next signed checkpoint (and its second at least) and a few entries more, so there is
    a middle and an end."""
    with deployment.authority.database.transaction() as session:
        head = session.execute(text("SELECT seq FROM audit_head")).scalar_one()
        target = max(head + CHECKPOINT_EVERY - head % CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY) + 3
        for number in range(target - head):
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


def _forge_checkpoint(connection: Any, entries: list[dict[str, Any]]) -> None:
    """Point the newest checkpoint at another hash, keeping its signature."""
    newest = _checkpoints(connection)[-1]
    connection.execute(
        text("UPDATE audit_checkpoints SET entry_hash = :h WHERE seq = :s"),
        {"h": "ab" * 32, "s": newest["seq"]},
    )


def _borrow_checkpoint_signature(connection: Any, entries: list[dict[str, Any]]) -> None:
    """Give the newest checkpoint a signature the HSM really made, but for another checkpoint."""
    checkpoints = _checkpoints(connection)
    connection.execute(
        text("UPDATE audit_checkpoints SET signature = :g WHERE seq = :s"),
        {"g": checkpoints[0]["signature"], "s": checkpoints[-1]["seq"]},
    )


def _delete_checkpoint(connection: Any, entries: list[dict[str, Any]]) -> None:
    connection.execute(
        text("DELETE FROM audit_checkpoints WHERE seq = :s"), {"s": _checkpoints(connection)[0]["seq"]}
    )


def _rewrite_entry_and_its_hashes(connection: Any, entries: list[dict[str, Any]]) -> None:
    """The attacker who recomputes the hash of the entry they edited (the chain then breaks only at the
    next link) and edits the checkpoint's hash too: its signature betrays them."""
    checkpoints = _checkpoints(connection)
    target = next(e for e in entries if e["seq"] == checkpoints[-1]["seq"])
    row = {**target, "details": '{"edited":true}'}
    material = [
        row["seq"],
        target["at"].isoformat() if hasattr(target["at"], "isoformat") else str(target["at"]),
        row["actor"],
        row["action"],
        row["object"],
        row["result"],
        row["details"],
        row["prev_hash"],
    ]
    new_hash = hashlib.sha256(
        json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    connection.execute(
        text("UPDATE audit_log SET details = :d, entry_hash = :h WHERE seq = :s"),
        {"d": row["details"], "h": new_hash, "s": row["seq"]},
    )
    connection.execute(
        text("UPDATE audit_checkpoints SET entry_hash = :h WHERE seq = :s"), {"h": new_hash, "s": row["seq"]}
    )


CASES: dict[str, tuple[Tamper, str]] = {
    "forged_checkpoint": (_forge_checkpoint, "is not signed by the HSM's audit key"),
    "borrowed_checkpoint_signature": (_borrow_checkpoint_signature, "is not signed by the HSM's audit key"),
    "deleted_checkpoint": (_delete_checkpoint, "is missing (removed)"),
    "rewritten_entry_and_checkpoint": (_rewrite_entry_and_its_hashes, "is not signed by the HSM's audit key"),
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


def test_an_exported_range_verifies_with_openssl_and_its_chain_recomputes(
    busy_log: Deployment, tmp_path: Path
) -> None:
    """The signature is checked by openssl, the chain by recomputing each hash here, each checkpoint by
    openssl too; a changed byte makes openssl refuse."""
    exported_file = tmp_path / "audit.json"
    busy_log.cli("audit", "export", "--from", "1", "--out", str(exported_file))
    exported = json.loads(exported_file.read_text("utf-8"))
    document = exported["export"]
    assert document["schema"] == "govsign-audit-export/1" and document["first"] == 1
    public_key = tmp_path / "audit-key.pem"
    public_key.write_text(exported["public_key"])

    def openssl_verifies(data: bytes, signature_b64: str) -> bool:
        (tmp_path / "data").write_bytes(data)
        (tmp_path / "sig.der").write_bytes(base64.b64decode(signature_b64))
        result = subprocess.run(
            [
                "openssl",
                "dgst",
                "-sha256",
                "-verify",
                str(public_key),
                "-signature",
                str(tmp_path / "sig.der"),
                str(tmp_path / "data"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.returncode == 0 and "Verified OK" in result.stdout

    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert openssl_verifies(canonical, exported["signature"])
    assert not openssl_verifies(canonical.replace(b"test.event", b"test.evenT", 1), exported["signature"])
    previous = "0" * 64
    for entry in document["entries"]:
        material = [entry[k] for k in ("seq", "at", "actor", "action", "object", "result", "details")]
        recomputed = hashlib.sha256(
            json.dumps(
                [*material, previous], sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
        ).hexdigest()
        assert entry["prev_hash"] == previous and entry["entry_hash"] == recomputed, entry["seq"]
        previous = entry["entry_hash"]
    assert len(document["checkpoints"]) >= 2
    by_seq = {entry["seq"]: entry for entry in document["entries"]}
    for checkpoint in document["checkpoints"]:
        assert checkpoint["entry_hash"] == by_seq[checkpoint["seq"]]["entry_hash"]
        message = (
            f"govsign-audit-checkpoint:{checkpoint['seq']}:{checkpoint['entry_hash']}:{checkpoint['at']}"
        )
        assert openssl_verifies(message.encode(), checkpoint["signature"])
    last = busy_log.cli("audit", "verify").stdout
    assert "checkpoints signed in the HSM" in last


def test_auditors_export_over_http_and_the_export_is_audited(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    auditor = administrator_token(sqlite_deployment, "auditor")
    with running_server(sqlite_deployment) as base:
        answer = httpx.get(
            f"{base}/api/v1/audit/export",
            params={"first": 1, "last": 5},
            headers={"Authorization": f"Bearer {auditor}"},
        )
        too_far = httpx.get(
            f"{base}/api/v1/audit/export",
            params={"first": 10**9},
            headers={"Authorization": f"Bearer {auditor}"},
        )
    assert answer.status_code == 200, answer.text
    assert [e["seq"] for e in answer.json()["export"]["entries"]] == [1, 2, 3, 4, 5]
    assert too_far.status_code == 422 and "choose a range within" in too_far.json()["detail"]
    with sqlite_deployment.authority.database.engine.begin() as connection:
        exports = (
            connection.execute(
                text("SELECT actor FROM audit_log WHERE action = 'audit.export' AND object = 'audit:1-5'")
            )
            .scalars()
            .all()
        )
    assert any(actor.startswith("admin:") for actor in exports)


def test_a_log_from_before_checkpoints_gets_them_all_at_its_first_due_checkpoint(
    busy_log: Deployment,
) -> None:
    """An upgraded deployment: no key and no checkpoints yet. The first checkpoint due makes the key and
    signs every earlier multiple too, so `audit verify` can require all of them."""
    with busy_log.authority.database.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_checkpoints"))
        connection.execute(text("DELETE FROM audit_signing_key"))
    with busy_log.authority.database.transaction() as session:
        head = session.execute(text("SELECT seq FROM audit_head")).scalar_one()
        for number in range(CHECKPOINT_EVERY - head % CHECKPOINT_EVERY):
            append(session, busy_log.authority.token, AuditEvent("upgrade-test", "test.event", f"o:{number}"))
    with busy_log.authority.database.engine.begin() as connection:
        signed = connection.execute(text("SELECT seq FROM audit_checkpoints ORDER BY seq")).scalars().all()
        newest = connection.execute(text("SELECT seq FROM audit_head")).scalar_one()
    assert signed == list(range(CHECKPOINT_EVERY, newest + 1, CHECKPOINT_EVERY))
    assert busy_log.cli("audit", "verify").returncode == 0


# -- the head anchored in the HSM: a log cut short or restored from an older copy ---------------------


def _audited_actions(deployment: Deployment, count: int, label: str) -> None:
    """``count`` audited actions, each committed in a transaction of its own as the service does."""
    for number in range(count):
        record(
            deployment.authority.database,
            deployment.authority.token,
            AuditEvent("anchor-test", "test.event", f"{label}:{number}"),
        )


def _verify_fails_saying(deployment: Deployment, expected: str) -> None:
    result = deployment.cli("audit", "verify", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in result.stderr, result.stderr


def _acknowledge_and_verify(deployment: Deployment, lost: str) -> None:
    """The ceremony records the gap; later verifies pass and still show it."""
    epoch = _anchor(deployment).epoch
    acknowledged = deployment.cli(
        "audit", "acknowledge-restore", "--reason", "khôi phục từ bản sao lưu đêm qua"
    )
    assert lost in acknowledged.stdout, acknowledged.stdout
    assert _anchor(deployment).epoch == epoch + 1
    _audited_actions(deployment, 1, "after-acknowledgement")
    verified = deployment.cli("audit", "verify")
    assert "audit log intact" in verified.stdout
    shown = [line for line in verified.stdout.splitlines() if "acknowledged restore" in line]
    assert any(lost in line and "reason: khôi phục từ bản sao lưu đêm qua" in line for line in shown), shown
    again = deployment.cli("audit", "acknowledge-restore", "--reason", "again", check=False)
    assert again.returncode != 0 and "no restore to acknowledge" in again.stderr


def _anchor(deployment: Deployment) -> Anchor:
    anchor = read_anchor(deployment.authority.token)
    assert anchor is not None
    return anchor


def test_cutting_the_newest_entries_and_writing_back_an_older_head_row_fails_verify(
    deployment: Deployment,
) -> None:
    """The older head row carries a valid HMAC of its own: only the HSM anchor shows the three lost."""
    engine = deployment.authority.database.engine
    with engine.begin() as connection:
        older = _copy_audit_tables(connection)
    _audited_actions(deployment, 3, "cut")
    with engine.begin() as connection:
        newer = _copy_audit_tables(connection)
        connection.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": older.head["seq"]})
        connection.execute(text("DELETE FROM audit_checkpoints WHERE seq > :s"), {"s": older.head["seq"]})
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, entry_hash = :entry_hash, mac = :mac WHERE id = 1"),
            older.head,
        )
    try:
        _verify_fails_saying(deployment, "3 entries are missing")
    finally:
        _restore_audit_tables(engine, newer)
    assert deployment.cli("audit", "verify").returncode == 0


def _sqlite_copy(source: str, destination: str) -> None:
    """SQLite's online backup: a consistent copy of a live database (WAL included), or a restore into one."""
    with closing(sqlite3.connect(source)) as origin, closing(sqlite3.connect(destination)) as target:
        origin.backup(target)


def test_restoring_an_older_copy_of_the_sqlite_database_fails_verify_until_acknowledged(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    database_file = make_url(sqlite_deployment.authority.database.url).database
    assert database_file
    backup = str(tmp_path / "govsign-backup.db")
    _sqlite_copy(database_file, backup)
    _audited_actions(sqlite_deployment, 2, "after-backup")
    sqlite_deployment.cli("audit", "export", "--from", "1", "--to", "2", "--out", str(tmp_path / "a.json"))
    _sqlite_copy(backup, database_file)
    _verify_fails_saying(sqlite_deployment, "3 entries are missing")
    _acknowledge_and_verify(sqlite_deployment, "3 entries are missing")


def test_a_restore_of_the_audit_tables_keeps_its_count_under_new_entries_until_acknowledged(
    deployment: Deployment,
) -> None:
    """New entries reuse the lost numbers; the anchor stays frozen with the count until the ceremony."""
    engine = deployment.authority.database.engine
    with engine.begin() as connection:
        older = _copy_audit_tables(connection)
    _audited_actions(deployment, 4, "before-restore")
    _restore_audit_tables(engine, older)
    _verify_fails_saying(deployment, "4 entries are missing")
    _audited_actions(deployment, 5, "after-restore")
    _verify_fails_saying(deployment, "4 entries are missing")
    _acknowledge_and_verify(deployment, "4 entries are missing")


_APPENDER = """
import os, sys
from ca.audit import AuditEvent, record
from govsign.config import runtime
from govsign.config.settings import load_settings
settings = load_settings()
database, token = runtime.database(settings), runtime.service_token(settings)
for number in range(int(sys.argv[1])):
    record(database, token, AuditEvent(f"pid-{os.getpid()}", "test.event", f"concurrent:{number}"))
"""


def test_the_anchor_only_moves_forward_under_two_concurrent_appenders(deployment: Deployment) -> None:
    per_process = 40
    start = _anchor(deployment)
    appenders = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(per_process)], env=deployment.env, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    seen = [start]
    while any(appender.poll() is None for appender in appenders):
        seen.append(_anchor(deployment))
    for appender in appenders:
        assert appender.wait() == 0, appender.stderr.read() if appender.stderr else ""
    seen.append(_anchor(deployment))
    positions = [(anchor.epoch, anchor.seq) for anchor in seen]
    assert positions == sorted(positions) and len(set(positions)) > 2, positions
    with deployment.authority.database.engine.begin() as connection:
        head = connection.execute(text("SELECT seq, entry_hash FROM audit_head")).one()
    assert (seen[-1].seq, seen[-1].entry_hash) == (head.seq, head.entry_hash)
    assert seen[-1].seq == start.seq + 2 * per_process
    verification = verify_log(deployment.authority.database, deployment.authority.token)
    assert verification.intact, verification.problems


def _remove_anchor(deployment: Deployment) -> None:
    """Make the service token look like a deployment's from before the anchor existed."""
    from pkcs11 import Attribute, ObjectClass

    from ca import hsm

    token = deployment.authority.token
    read_anchor(token)  # logged in, so the raw session below sees private objects
    session = hsm.library_for(token.module_path).get_token(token_label=token.label).open(rw=True)
    try:
        template = {Attribute.CLASS: ObjectClass.DATA, Attribute.APPLICATION: ANCHOR_APPLICATION}
        for found in list(session.get_objects(template)):
            found.destroy()
    finally:
        session.close()


def test_a_deployment_from_before_the_anchor_gets_one_at_its_first_verify_and_is_then_protected(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    _remove_anchor(sqlite_deployment)
    first = sqlite_deployment.cli("audit", "verify")
    assert "had no HSM anchor yet; created it at entry" in first.stdout, first.stdout
    assert "had no HSM anchor" not in sqlite_deployment.cli("audit", "verify").stdout
    engine = sqlite_deployment.authority.database.engine
    with engine.begin() as connection:
        older = _copy_audit_tables(connection)
    sqlite_deployment.cli("audit", "export", "--from", "1", "--to", "1", "--out", str(tmp_path / "a.json"))
    with engine.begin() as connection:
        newer = _copy_audit_tables(connection)
    _restore_audit_tables(engine, older)
    try:
        _verify_fails_saying(sqlite_deployment, "1 entry is missing")
    finally:
        _restore_audit_tables(engine, newer)
    assert sqlite_deployment.cli("audit", "verify").returncode == 0
