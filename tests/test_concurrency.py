"""Many processes and threads issue at once: every serial distinct, every intent completed, the audit chain whole."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
from sqlalchemy import func, select

from ca.audit import verify_log
from ca.store import AuditEntry, CertificateRecord, IssuanceIntent
from tests.conftest import DEMO, Deployment
from tests.workers import issue_many

PROCESSES, THREADS, PER_THREAD = 2, 4, 25


@pytest.mark.slow
def test_200_issuances_from_4_threads_in_each_of_2_processes(deployment: Deployment) -> None:
    request = json.loads((DEMO / "official-nguyen-van-anh.json").read_text(encoding="utf-8"))
    # ProcessPoolExecutor fails the test if a worker dies; multiprocessing.Pool would wait for ever.
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            pool.submit(issue_many, deployment.env, request, THREADS, PER_THREAD) for _ in range(PROCESSES)
        ]
        serials = [serial for future in futures for serial in future.result(timeout=600)]
    assert len(serials) == PROCESSES * THREADS * PER_THREAD == 200
    assert len(set(serials)) == 200
    with deployment.authority.database.transaction() as session:
        stored = session.scalar(
            select(func.count()).select_from(CertificateRecord).where(CertificateRecord.serial.in_(serials))
        )
        done = session.scalar(
            select(func.count())
            .select_from(IssuanceIntent)
            .where(IssuanceIntent.serial.in_(serials), IssuanceIntent.state == "done")
        )
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == "certificate.issue",
                AuditEntry.object.in_([f"certificate:{s}" for s in serials]),
            )
        )
    assert (stored, done, audited) == (200, 200, 200)
    verification = verify_log(deployment.authority.database, deployment.authority.token)
    assert verification.intact, verification.problems
