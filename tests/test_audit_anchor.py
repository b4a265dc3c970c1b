"""The audit head anchored in the HSM: `govsign audit verify` fails on a log cut short or restored from an
older copy until the restore is acknowledged, and the anchor only moves forward under concurrent appenders."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ca import anchor_moves
from ca.audit import AuditEvent, acknowledge_restore, record, verify_log
from ca.audit_anchor import ANCHOR_APPLICATION, Anchor, read_anchor
from ca.errors import HsmError, StateConflict
from tests.audit_tables import copy_audit_tables, restore_audit_tables
from tests.conftest import Deployment


def _audited_actions(deployment: Deployment, count: int, label: str) -> None:
    """``count`` audited actions, each committed in a transaction of its own as the service does, and
    anchored (as a command's are when its process ends)."""
    for number in range(count):
        record(
            deployment.authority.database,
            deployment.authority.token,
            AuditEvent("anchor-test", "test.event", f"{label}:{number}"),
        )
    assert anchor_moves.settle(timeout=10)


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
        older = copy_audit_tables(connection)
    _audited_actions(deployment, 3, "cut")
    with engine.begin() as connection:
        newer = copy_audit_tables(connection)
        connection.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": older.head["seq"]})
        connection.execute(text("DELETE FROM audit_checkpoints WHERE seq > :s"), {"s": older.head["seq"]})
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, entry_hash = :entry_hash, mac = :mac WHERE id = 1"),
            older.head,
        )
    try:
        _verify_fails_saying(deployment, "3 entries are missing")
    finally:
        restore_audit_tables(engine, newer)
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
        older = copy_audit_tables(connection)
    _audited_actions(deployment, 4, "before-restore")
    restore_audit_tables(engine, older)
    _verify_fails_saying(deployment, "4 entries are missing")
    _audited_actions(deployment, 5, "after-restore")
    _verify_fails_saying(deployment, "4 entries are missing")
    _acknowledge_and_verify(deployment, "4 entries are missing")


_APPENDER = """
import os, sys
from ca import anchor_moves
from ca.audit import AuditEvent, record
from ca.metrics import observe_hsm_with
from govsign.config import runtime
from govsign.config.settings import load_settings
settings = load_settings()
database, token = runtime.database(settings), runtime.service_token(settings)
writes = []
observe_hsm_with(lambda operation, _s, failed: writes.append(1) if operation == "write_tagged_text" else None)
for number in range(int(sys.argv[1])):
    record(database, token, AuditEvent(f"pid-{os.getpid()}", "test.event", f"concurrent:{number}"))
before_exit = len(writes)
assert anchor_moves.settle()
print(before_exit, len(writes))
"""


def test_the_anchor_only_moves_forward_under_two_concurrent_appenders(deployment: Deployment) -> None:
    """Two processes append 40 entries each; their movers write the anchor while they run (not only at
    exit), every position this process reads meanwhile is at or past the one before, and once both are
    done the anchor is the head. Why this process does not count the positions it saw: SoftHSM2 may serve
    a reader in another process its old copy of a data object rewritten in place (seen here: the
    appenders wrote ten positions in 0.6 s while 4,310 reads of this process saw none of them); the
    writers' own read-and-write under the store's exclusive lock is current, which is what keeps the
    anchor from going back."""
    per_process = 40
    assert anchor_moves.settle(timeout=10)
    start = _anchor(deployment)
    appenders = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(per_process)],
            env=deployment.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    seen = [start]
    while any(appender.poll() is None for appender in appenders):
        seen.append(_anchor(deployment))
    for appender in appenders:
        stdout, stderr = appender.communicate()
        assert appender.returncode == 0, stderr
        while_running, in_all = map(int, stdout.split())
        assert while_running >= 2 and in_all <= per_process, stdout
    seen.append(_anchor(deployment))
    positions = [(anchor.epoch, anchor.seq) for anchor in seen]
    assert positions == sorted(positions), positions
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
        older = copy_audit_tables(connection)
    sqlite_deployment.cli("audit", "export", "--from", "1", "--to", "1", "--out", str(tmp_path / "a.json"))
    with engine.begin() as connection:
        newer = copy_audit_tables(connection)
    restore_audit_tables(engine, older)
    try:
        _verify_fails_saying(sqlite_deployment, "1 entry is missing")
    finally:
        restore_audit_tables(engine, newer)
    assert sqlite_deployment.cli("audit", "verify").returncode == 0


def test_threads_committing_together_hand_their_moves_to_one_paced_writer(deployment: Deployment) -> None:
    """Eight threads append at once. No commit waits for the anchor (ca/anchor_moves.py): the process's
    mover writes the newest head at most once per MOVE_INTERVAL, each write holding the token store
    exclusively, so 120 commits cost a handful of exclusive writes instead of 120; once the process
    settles, the anchor vouches for every entry, and no position ever seen went back."""
    import itertools
    import threading
    import time

    from ca.metrics import observe_hsm_with

    database, token = deployment.authority.database, deployment.authority.token
    assert anchor_moves.settle(timeout=10)  # the fixture's own entries first
    start = _anchor(deployment)
    writes: list[float] = []
    seen: list[list[tuple[int, int]]] = [[] for _ in range(8)]

    def count(operation: str, seconds: float, failed: bool) -> None:
        if seconds >= 0 and operation == "write_tagged_text" and not failed:
            writes.append(time.monotonic())

    def append(number: int) -> None:
        for round_ in range(15):
            record(database, token, AuditEvent("test", "test.event", f"thread:{number}:{round_}"))
            anchor = _anchor(deployment)
            seen[number].append((anchor.epoch, anchor.seq))

    observe_hsm_with(count)
    try:
        began = time.monotonic()
        threads = [threading.Thread(target=append, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert anchor_moves.settle(timeout=10)
        elapsed = time.monotonic() - began
    finally:
        observe_hsm_with(None)
    final = _anchor(deployment)
    assert final.seq == start.seq + 8 * 15 and final.epoch == start.epoch
    assert len(writes) <= elapsed / anchor_moves.MOVE_INTERVAL + 2, (len(writes), elapsed)
    assert len(writes) < 8 * 15 / 2, len(writes)
    gaps = [later - earlier for earlier, later in itertools.pairwise(writes)]
    assert all(gap >= anchor_moves.MOVE_INTERVAL * 0.9 for gap in gaps), gaps
    for positions in seen:
        assert positions == sorted(positions) and positions[-1] <= (final.epoch, final.seq), positions
    verification = verify_log(database, token)
    assert verification.intact, verification.problems


def test_the_mover_outlives_a_write_that_fails_with_any_error(deployment: Deployment) -> None:
    """A move that fails with something other than HsmError (here the OSError a token store's lock file
    gives when the process is out of descriptors) must not end the process's one mover thread: if it did,
    no later commit of the process would ever be anchored, and a cut of those entries would go unseen for
    as long as the process lives (settle() would only time out)."""
    token = deployment.authority.token
    application = "govsign-test-mover"  # a mover of its own: the audit anchor's is left alone
    failures = [OSError(24, "Too many open files")]
    failed = threading.Event()

    def failing(_text: str | None) -> str | None:
        if failures:
            failed.set()
            raise failures.pop()
        return "first"

    anchor_moves.hand_over(token, application, (0, 1), failing)
    assert failed.wait(timeout=10)  # the mover has tried (and failed) before the next commit hands over
    anchor_moves.hand_over(token, application, (0, 2), lambda _text: "second")
    assert anchor_moves.settle(timeout=anchor_moves.RETRY_PAUSE * 5)
    assert token.read_tagged_text(application) == "second"


def test_verify_says_so_when_this_process_could_not_anchor_its_newest_entries(deployment: Deployment) -> None:
    """While a move of the process cannot be written (the HSM refusing it), `verify` does not pass in
    silence over entries the anchor may not cover yet, and the restore ceremony refuses to measure a gap;
    once the HSM takes the move, both are themselves again."""
    token = deployment.authority.token
    application = "govsign-test-stuck-mover"
    stuck = threading.Event()

    def refused(_text: str | None) -> str | None:
        if not stuck.is_set():
            raise HsmError("HSM unavailable (test)")
        return "written"

    anchor_moves.hand_over(token, application, (0, 1), refused)
    try:
        verification = verify_log(deployment.authority.database, token)
        assert any("did not take this process's newest anchor move" in p for p in verification.problems)
        with pytest.raises(StateConflict, match="newest anchor move"):
            acknowledge_restore(deployment.authority.database, token, "test", actor="test")
    finally:
        stuck.set()
    assert anchor_moves.settle(timeout=anchor_moves.RETRY_PAUSE * 5)
    verification = verify_log(deployment.authority.database, token)
    assert verification.intact, verification.problems
