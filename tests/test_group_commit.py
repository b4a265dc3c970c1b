"""Group commit (ca/group_commit.py): the audited jobs of threads that arrive together share one
transaction, yet each keeps its own all-or-nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ca import audit
from ca.activation.grants import Claim
from ca.activation.records import GrantKind, credential_row
from ca.audit import AuditEvent, verify_log
from ca.correlation import REQUEST_ID
from ca.errors import InvalidRequest
from ca.group_commit import GroupCommit
from ca.hsm import SignatureAlgorithm
from ca.store import AuditEntry
from tests.conftest import Deployment
from tests.test_activation import PIN, active_credential, digest, module_of

THREADS, ROUNDS = 8, 10


def _entries(deployment: Deployment, marker: str) -> int:
    with deployment.authority.database.reading() as session:
        return int(
            session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.object.like(marker)))
            or 0
        )


def test_concurrent_jobs_share_commits_and_a_refused_job_loses_only_its_own_writes(
    deployment: Deployment,
) -> None:
    """Eight threads run ten audited jobs each; every third job of a thread appends its entry and then
    refuses. The refused ones get their own exception and leave no entry; every other entry is there, in
    one verified chain; and the 80 jobs took clearly fewer transactions than 80."""
    database, token = deployment.authority.database, deployment.authority.token
    commits: list[int] = []

    def count_commit(_connection: Any) -> None:
        commits.append(1)

    def work(session: Session, job: tuple[int, int]) -> str:
        thread, round_ = job
        name = f"group:{thread}:{round_}"
        audit.append(session, token, AuditEvent("group-test", "test.event", name))
        if round_ % 3 == 2:
            raise InvalidRequest(f"refused {name}")
        return name

    group: GroupCommit[tuple[int, int], str] = GroupCommit(database, work)
    outcomes: dict[tuple[int, int], str] = {}

    def run(thread: int) -> None:
        for round_ in range(ROUNDS):
            try:
                outcomes[(thread, round_)] = group.run((thread, round_))
            except InvalidRequest as refusal:
                outcomes[(thread, round_)] = str(refusal)

    event.listen(database.engine, "commit", count_commit)
    try:
        threads = [threading.Thread(target=run, args=(number,)) for number in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(database.engine, "commit", count_commit)
    refused = {job for job in outcomes if job[1] % 3 == 2}
    assert all(outcomes[job] == f"refused group:{job[0]}:{job[1]}" for job in refused)
    assert all(outcomes[job] == f"group:{job[0]}:{job[1]}" for job in outcomes.keys() - refused)
    assert len(outcomes) == THREADS * ROUNDS
    assert _entries(deployment, "group:%") == THREADS * ROUNDS - len(refused)
    assert len(commits) < THREADS * ROUNDS * 0.75, len(commits)
    verification = verify_log(database, token)
    assert verification.intact, verification.problems


def test_a_commit_that_fails_fails_every_job_of_its_group_and_no_other(deployment: Deployment) -> None:
    """A first job holds its group open until two more threads wait behind it; those two form the next
    group, whose COMMIT fails: both get the error and neither leaves an entry, while the first job's
    group committed untouched."""
    database, token = deployment.authority.database, deployment.authority.token
    release = threading.Event()

    class Broken(RuntimeError):
        pass

    def failing_commit(session: Session) -> None:
        if session.info.get("group-test-break"):
            raise Broken("the database refused the COMMIT")

    def work(session: Session, name: str) -> str:
        if name == "group-gate:0":
            assert release.wait(timeout=30)
        else:
            session.info["group-test-break"] = True
        audit.append(session, token, AuditEvent("group-test", "test.event", name))
        return name

    group: GroupCommit[str, str] = GroupCommit(database, work)
    outcomes: dict[str, str] = {}

    def run(name: str) -> None:
        try:
            outcomes[name] = group.run(name)
        except Broken as error:
            outcomes[name] = f"failed: {error}"

    event.listen(Session, "before_commit", failing_commit)
    try:
        gate = threading.Thread(target=run, args=("group-gate:0",))
        gate.start()
        _wait_until(lambda: group._leading)
        followers = [threading.Thread(target=run, args=(f"group-broken:{n}",)) for n in (1, 2)]
        for follower in followers:
            follower.start()
        _wait_until(lambda: len(group._waiting) == 2)
        release.set()
        for thread in (gate, *followers):
            thread.join(timeout=60)
    finally:
        event.remove(Session, "before_commit", failing_commit)
    assert outcomes == {
        "group-gate:0": "group-gate:0",
        "group-broken:1": "failed: the database refused the COMMIT",
        "group-broken:2": "failed: the database refused the COMMIT",
    }
    assert _entries(deployment, "group-gate:%") == 1 and _entries(deployment, "group-broken:%") == 0
    verification = verify_log(database, token)
    assert verification.intact, verification.problems


def _queued(claims: GroupCommit[Claim, Any], key_id: str) -> bool:
    return any(ticket.job.key_id == key_id for ticket in claims._waiting)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the threads did not get there"
        time.sleep(0.01)


def test_a_group_of_claims_does_not_deadlock_with_a_transaction_that_locks_a_credential_then_audits(
    postgres_deployment: Deployment,
) -> None:
    """A claim locks its credential, then the audit head (credential_row first, as destroy() does, so that
    nothing deadlocks); so do authorize, unlock, a PIN change and destroy. A group of claims must keep that
    order across its jobs: if its first job took the head and its second then waited for a credential that
    such a transaction holds, that transaction would wait for the head, and PostgreSQL would kill one of
    them (a signature, or a revocation, refused with a deadlock). Here a first claim holds its group open
    on a locked credential until claims on X and on Y wait behind it; then, while Y is locked by a
    transaction that goes on to audit (an authorize's), the group of X and Y runs: every claim and the
    other transaction must succeed."""
    deployment = postgres_deployment
    module, database, token = module_of(deployment), deployment.authority.database, deployment.authority.token
    gate, first, second = (active_credential(deployment) for _ in range(3))
    wanted = {key_id: [digest(f"group-deadlock:{key_id}")] for key_id in (gate, first, second)}
    sads = {
        key_id: module.authorize(
            key_id, PIN, hashes, kind=GrantKind.HASHES, hash_algorithm="sha256", actor="h"
        ).sad
        for key_id, hashes in wanted.items()
    }
    outcomes: dict[str, str] = {}

    def claim(key_id: str) -> None:
        try:
            module.sign_hashes(
                key_id, sads[key_id], wanted[key_id], SignatureAlgorithm("ecdsa", "sha256"), actor="h"
            )
            outcomes[key_id] = "signed"
        except OperationalError as error:
            outcomes[key_id] = f"failed: {error.orig!r}"

    claims = module._claims
    threads = {key_id: threading.Thread(target=claim, args=(key_id,)) for key_id in (gate, first, second)}
    other = "committed"
    try:
        with database.transaction() as session:
            credential_row(session, second)  # an authorize's transaction: the credential first...
            with database.transaction() as holding_gate:
                credential_row(holding_gate, gate)
                threads[gate].start()
                _wait_until(lambda: claims._leading)
                for key_id in (first, second):
                    threads[key_id].start()
                    _wait_until(partial(_queued, claims, key_id))
            _wait_until(lambda: gate in outcomes and not claims._waiting)
            time.sleep(0.5)  # the group of X and Y has taken X and the head, and waits for Y
            audit.append(session, token, AuditEvent("h", "credential.authorize", f"credential:{second}"))
    except OperationalError as error:
        other = f"failed: {error.orig!r}"
    for thread in threads.values():
        thread.join(timeout=60)
    assert (outcomes, other) == ({gate: "signed", first: "signed", second: "signed"}, "committed")


def test_each_job_of_a_group_is_audited_under_its_own_request(deployment: Deployment) -> None:
    """An audit entry names the HTTP request it came from (details.request_id, read from the request's
    context), which ties it to the access log. The leader runs the other threads' jobs: each must still be
    run in its own thread's context, or every entry of the group names the leader's request, and another
    official's signature is tied to the wrong request."""
    database, token = deployment.authority.database, deployment.authority.token
    release = threading.Event()

    def work(session: Session, name: str) -> str:
        if name == "group-request:0":
            assert release.wait(timeout=30)
        audit.append(session, token, AuditEvent("group-test", "test.event", name))
        return name

    group: GroupCommit[str, str] = GroupCommit(database, work)

    def run(name: str) -> None:
        REQUEST_ID.set(f"request-of-{name}")
        group.run(name)

    names = [f"group-request:{n}" for n in range(3)]
    threads = [threading.Thread(target=run, args=(name,)) for name in names]
    threads[0].start()
    _wait_until(lambda: group._leading)
    for thread in threads[1:]:
        thread.start()
    _wait_until(lambda: len(group._waiting) == 2)
    release.set()
    for thread in threads:
        thread.join(timeout=60)
    with database.reading() as session:
        rows = session.execute(
            select(AuditEntry.object, AuditEntry.details).where(AuditEntry.object.like("group-request:%"))
        ).all()
    assert {name: json.loads(details).get("request_id") for name, details in rows} == {
        name: f"request-of-{name}" for name in names
    }


def test_a_stop_waits_until_a_waiting_job_is_settled(deployment: Deployment) -> None:
    """A document's time limit stops its thread from another thread (ca/interruption.py). Aimed at a
    thread that waits behind a group, the stop is held back (its job would otherwise be committed later
    with nobody to use it, or the group left led by nobody): the job commits, its thread returns it, and
    the next job finds the group free."""
    from ca import interruption

    database, token = deployment.authority.database, deployment.authority.token
    release = threading.Event()

    class Stopped(Exception):
        pass

    def work(session: Session, name: str) -> str:
        if name == "group-stop-gate:0":
            assert release.wait(timeout=30)
        audit.append(session, token, AuditEvent("group-test", "test.event", name))
        return name

    group: GroupCommit[str, str] = GroupCommit(database, work)
    outcomes: dict[str, str] = {}
    gate = threading.Thread(target=lambda: outcomes.update(gate=group.run("group-stop-gate:0")))
    waiter = threading.Thread(target=lambda: outcomes.update(waiter=group.run("group-stop-waiter:1")))
    gate.start()
    _wait_until(lambda: group._leading)
    waiter.start()
    _wait_until(lambda: len(group._waiting) == 1)
    assert waiter.ident is not None
    try:
        assert interruption.stop(waiter.ident, Stopped) is False  # held back: it waits inside run
        release.set()
        gate.join(timeout=60)
        waiter.join(timeout=60)
    finally:
        interruption.forget(waiter.ident)
    assert outcomes == {"gate": "group-stop-gate:0", "waiter": "group-stop-waiter:1"}
    assert group.run("group-stop-after:2") == "group-stop-after:2" and not group._leading
    assert _entries(deployment, "group-stop-%") == 3
