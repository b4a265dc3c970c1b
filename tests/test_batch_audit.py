"""A batch's audit: every document it reports signed has its own ``document.sign`` entry with its hashes,
recorded by the coordinator together with the item's outcome, many documents per commit; an output whose
entry never committed (its coordinator died first) is not left behind for anyone to take."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from sqlalchemy import select, update

from ca.authority import Authority
from ca.signing_keys import activate_for_documents, subscriber_key
from ca.store import AuditEntry
from govsign.config import runtime
from signing.batch import run_batch
from signing.batch_store import (
    NO_ACTIVATION,
    BatchItem,
    BatchReport,
    HolderSecrets,
    ItemOutcome,
    batch_report,
    create_batch,
    pending_digests,
)
from signing.pades import Level, SigningOptions
from tests.conftest import HOLDER_PIN, Deployment, issue_in_hsm
from tests.pdf_samples import one_page_pdf


@pytest.fixture(scope="module")
def seal_serial(sqlite_deployment: Deployment) -> str:
    return issue_in_hsm(sqlite_deployment, "organisation", "seal-so-tu-phap-ha-noi.json")


def documents(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    return [one_page_pdf(folder / f"cong-van-{n}.pdf", text=f"Cong van so {n}") for n in range(count)]


def batch_entries(deployment: Deployment, batch_id: str) -> list[tuple[int, str, dict[str, object]]]:
    """(seq, action, details) of every signature entry the batch's workers and coordinator wrote."""
    with deployment.authority.database.reading() as session:
        entries = session.execute(
            select(AuditEntry.seq, AuditEntry.action, AuditEntry.details)
            .where(AuditEntry.actor.endswith(f"(batch {batch_id})"))
            .order_by(AuditEntry.seq)
        ).all()
    return [(seq, action, json.loads(details)) for seq, action, details in entries]


def _b_b_batch(authority: Authority, serial: str, sources: list[Path], target: Path) -> str:
    """An invisible B-B batch of ``sources`` for the seal ``serial``, written into ``target``."""
    return create_batch(
        authority.database,
        owner="cli:test",
        serial=serial,
        options=SigningOptions(level=Level.B_B),
        sources=sources,
        target_dir=target,
    )


def runs_of(entries: list[tuple[int, str, dict[str, object]]], action: str) -> int:
    """How many unbroken runs of ``action`` the entries make (entries of one commit are consecutive)."""
    actions = [entry_action for _, entry_action, _ in entries]
    return sum(1 for n, name in enumerate(actions) if name == action and (n == 0 or actions[n - 1] != name))


def test_every_document_a_batch_signs_has_its_own_entry_recorded_with_others_in_one_commit(
    sqlite_deployment: Deployment, seal_serial: str, tmp_path: Path
) -> None:
    """One worker, six documents: each signature is authorised by its own credential.sign entry (the
    activation module's, at the HSM) and vouched for by its own document.sign entry naming the approved
    document and the output; the document.sign entries come in runs (one commit each), fewer than the
    documents, not one commit per document between the credential.sign entries. (A round closes a second
    after its first document finished: only documents slower than that would each get a commit.)"""
    authority = sqlite_deployment.authority
    sources = documents(tmp_path / "in", 6)
    (tmp_path / "out").mkdir()
    batch_id = _b_b_batch(authority, seal_serial, sources, tmp_path / "out")
    key = subscriber_key(authority, seal_serial)
    digests = pending_digests(authority.database, batch_id)
    grant = activate_for_documents(authority, key, HOLDER_PIN, digests, actor="holder").grant
    report = run_batch(
        authority,
        batch_id,
        open_authority=runtime.authority_from_environment,
        worker_environment=sqlite_deployment.env,
        processes=1,
        activation=HolderSecrets(sad=grant.sad),
    )
    assert (report.done, report.failed) == (6, 0), report.summary()
    entries = batch_entries(sqlite_deployment, batch_id)
    signed = {
        (details["source_sha256"], details["signed_sha256"])
        for _, action, details in entries
        if action == "document.sign"
    }
    expected = {
        (hashlib.sha256(source.read_bytes()).hexdigest(), item["signed_sha256"])
        for source, item in zip(sources, report.items, strict=True)
    }
    assert signed == expected and len(signed) == 6
    for item in report.items:
        output = tmp_path / "out" / str(item["name"])
        assert hashlib.sha256(output.read_bytes()).hexdigest() == item["signed_sha256"]
    assert [action for _, action, _ in entries].count("credential.sign") == 6
    assert runs_of(entries, "document.sign") < 6, entries


def test_an_output_whose_entry_never_committed_is_removed_when_the_batch_is_taken_up_again(
    sqlite_deployment: Deployment, seal_serial: str, tmp_path: Path
) -> None:
    """A coordinator killed after its worker wrote a document's output but before the commit that records
    it leaves the item running and the output unvouched for. The next run signs it again, or (here: the
    holder's activation died with the old process) fails it; either way that output does not stay."""
    authority = sqlite_deployment.authority
    sources = documents(tmp_path / "in", 2)
    (tmp_path / "out").mkdir()
    batch_id = _b_b_batch(authority, seal_serial, sources, tmp_path / "out")
    with authority.database.transaction() as session:
        session.execute(
            update(BatchItem)
            .where(BatchItem.batch_id == batch_id, BatchItem.name == sources[0].name)
            .values(state="running", claimed_by="a coordinator that was killed")
        )
    (tmp_path / "out" / sources[0].name).write_bytes(b"%PDF-1.7 signed, but never recorded")
    report = run_batch(
        authority,
        batch_id,
        open_authority=runtime.authority_from_environment,
        worker_environment=sqlite_deployment.env,
        processes=1,
        activation=NO_ACTIVATION,
    )
    assert (report.done, report.failed) == (0, 2), report.summary()
    assert list((tmp_path / "out").iterdir()) == []
    assert batch_entries(sqlite_deployment, batch_id) == []


def test_a_worker_killed_mid_batch_loses_no_entry_and_the_batch_resumes_to_one_entry_per_output(
    sqlite_deployment: Deployment, seal_serial: str, tmp_path: Path
) -> None:
    """A worker dies (out of memory, killed) after the first round has committed: the batch stops with
    the broken pool, every document it reported done has its entry and none has two, and run again with
    the holder's new activation it ends with one output and one entry per document."""
    authority = sqlite_deployment.authority
    sources = documents(tmp_path / "in", 24)
    (tmp_path / "out").mkdir()
    batch_id = _b_b_batch(authority, seal_serial, sources, tmp_path / "out")

    # a pool of this test's own (pools are kept per environment), so that only its workers are killed
    environment = {**sqlite_deployment.env, "GOVSIGN_TEST_POOL": "a worker will be killed"}
    others = {child.pid for child in multiprocessing.active_children()}

    def run(on_item: Callable[[ItemOutcome], None] = lambda outcome: None) -> BatchReport:
        key = subscriber_key(authority, seal_serial)
        digests = pending_digests(authority.database, batch_id)
        grant = activate_for_documents(authority, key, HOLDER_PIN, digests, actor="holder").grant
        return run_batch(
            authority,
            batch_id,
            open_authority=runtime.authority_from_environment,
            worker_environment=environment,
            processes=2,
            on_item=on_item,
            activation=HolderSecrets(sad=grant.sad),
        )

    def kill_a_worker(outcome: ItemOutcome) -> None:
        ours = [child for child in multiprocessing.active_children() if child.pid not in others]
        if len(ours) == 2 and all(worker.is_alive() for worker in ours):  # once, in the first round
            os.kill(ours[0].pid or 0, signal.SIGKILL)

    def signed_entries() -> list[str]:
        return sorted(
            str(details["signed_sha256"])
            for _, action, details in batch_entries(sqlite_deployment, batch_id)
            if action == "document.sign"
        )

    with pytest.raises(BrokenProcessPool):
        run(on_item=kill_a_worker)
    interrupted = batch_report(authority.database, batch_id)
    assert interrupted.done < 24, interrupted.summary()
    assert signed_entries() == sorted(
        str(item["signed_sha256"]) for item in interrupted.items if item["state"] == "done"
    )
    report = run()
    assert (report.done, report.failed) == (24, 0), report.summary()
    outputs = sorted(hashlib.sha256(path.read_bytes()).hexdigest() for path in (tmp_path / "out").iterdir())
    assert signed_entries() == outputs and len(outputs) == 24
