"""Group commit (ca/group_commit.py): the audited jobs of threads that arrive together share one
transaction, yet each keeps its own all-or-nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from ca import audit
from ca.audit import AuditEvent, verify_log
from ca.errors import InvalidRequest
from ca.group_commit import GroupCommit
from ca.store import AuditEntry
from tests.conftest import Deployment

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


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the threads did not get there"
        time.sleep(0.01)
