"""`govsign audit verify` catches every edit an attacker with database access but no HSM can make to the
hash chain and its signed checkpoints; exports verify with openssl and are themselves audited."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ca.audit import AuditEvent, append
from ca.audit_checkpoints import CHECKPOINT_EVERY
from tests.audit_tables import checkpoint_rows, copy_audit_tables, restore_audit_tables
from tests.conftest import Deployment, administrator_token, running_server

Tamper = Callable[[Any, list[dict[str, Any]]], None]


@contextmanager
def _tampered(deployment: Deployment, tamper: Tamper) -> Iterator[None]:
    """Apply ``tamper`` to the audit tables with plain SQL, then put every row back as it was."""
    engine = deployment.authority.database.engine
    with engine.begin() as connection:
        original = copy_audit_tables(connection)
        tamper(connection, original.entries)
    try:
        yield
    finally:
        restore_audit_tables(engine, original)


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
    newest = checkpoint_rows(connection)[-1]
    connection.execute(
        text("UPDATE audit_checkpoints SET entry_hash = :h WHERE seq = :s"),
        {"h": "ab" * 32, "s": newest["seq"]},
    )


def _borrow_checkpoint_signature(connection: Any, entries: list[dict[str, Any]]) -> None:
    """Give the newest checkpoint a signature the HSM really made, but for another checkpoint."""
    checkpoints = checkpoint_rows(connection)
    connection.execute(
        text("UPDATE audit_checkpoints SET signature = :g WHERE seq = :s"),
        {"g": checkpoints[0]["signature"], "s": checkpoints[-1]["seq"]},
    )


def _delete_checkpoint(connection: Any, entries: list[dict[str, Any]]) -> None:
    connection.execute(
        text("DELETE FROM audit_checkpoints WHERE seq = :s"), {"s": checkpoint_rows(connection)[0]["seq"]}
    )


def _rewrite_entry_and_its_hashes(connection: Any, entries: list[dict[str, Any]]) -> None:
    """The attacker who recomputes the hash of the entry they edited (the chain then breaks only at the
    next link) and edits the checkpoint's hash too: its signature betrays them."""
    checkpoints = checkpoint_rows(connection)
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
