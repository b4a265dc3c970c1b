"""`govsign sign-batch`: both cores, one bad document failing alone, every output verified, and a batch
killed half-way that, run again, ends with exactly one signed output per input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ca.store import AuditEntry, Database
from signing.batch_store import BatchItem, SigningBatch
from tests.conftest import HOLDER_PIN, Deployment, issue_in_hsm
from tests.pdf_samples import one_page_pdf
from tests.test_pades import assert_pdfsig_valid_and_trusted


@pytest.fixture(scope="module")
def clerk_serial(sqlite_deployment: Deployment) -> str:
    return issue_in_hsm(sqlite_deployment, "organisation", "seal-so-tu-phap-ha-noi.json")


def running(pid: str) -> bool:
    """Alive and not a zombie waiting for a parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def case_file(folder: Path, count: int) -> Path:
    folder.mkdir()
    for number in range(count):
        one_page_pdf(folder / f"tai-lieu-{number:03}.pdf", text=f"Ban sao so {number}")
    return folder


def test_batch_signs_the_good_documents_and_fails_the_bad_one_alone(
    sqlite_deployment: Deployment, clerk_serial: str, tmp_path: Path, public_server: str, nss_db: str
) -> None:
    inputs = case_file(tmp_path / "in", 6)
    (inputs / "hong.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")  # truncated
    result = sqlite_deployment.cli(
        "sign-batch", str(inputs), str(tmp_path / "out"), "--cert", clerk_serial,
        "--appearance", "copy", "--agency", "Sở Tư pháp thành phố Hà Nội", check=False,
        stdin=HOLDER_PIN + "\n",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "hong.pdf" in result.stderr and "damaged" in result.stderr
    assert "6 signed, 1 failed, of 7" in result.stdout
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outputs == sorted(p.name for p in inputs.iterdir() if p.name != "hong.pdf")
    for name in outputs[:2]:
        assert_pdfsig_valid_and_trusted(nss_db, tmp_path / "out" / name, expected=1)


def test_a_batch_with_two_identical_files_signs_both(
    sqlite_deployment: Deployment, clerk_serial: str, tmp_path: Path, public_server: str, nss_db: str
) -> None:
    """The holder approves the batch's documents by their hashes; two copies of one file share a hash and
    must still both be signed (each approved once)."""
    inputs = case_file(tmp_path / "in", 2)
    (inputs / "tai-lieu-copy.pdf").write_bytes((inputs / "tai-lieu-000.pdf").read_bytes())
    result = sqlite_deployment.cli(
        "sign-batch", str(inputs), str(tmp_path / "out"), "--cert", clerk_serial,
        stdin=HOLDER_PIN + "\n",
    )  # fmt: skip
    assert "3 signed, 0 failed, of 3" in result.stdout, result.stdout + result.stderr
    for name in ("tai-lieu-000.pdf", "tai-lieu-copy.pdf"):
        assert_pdfsig_valid_and_trusted(nss_db, tmp_path / "out" / name, expected=1)


def test_a_batch_killed_half_way_resumes_to_exactly_one_output_per_input(
    sqlite_deployment: Deployment, clerk_serial: str, tmp_path: Path
) -> None:
    inputs = case_file(tmp_path / "in", 24)
    outputs = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "govsign",
        "sign-batch",
        str(inputs),
        str(outputs),
        "--cert",
        clerk_serial,
    ]
    first = subprocess.Popen(
        command,
        env=sqlite_deployment.env,
        start_new_session=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert first.stdin is not None
    first.stdin.write(HOLDER_PIN.encode() + b"\n")  # the holder's PIN activates the whole batch once
    first.stdin.close()
    database = sqlite_deployment.authority.database
    this_batch = select(SigningBatch.id).where(SigningBatch.source_dir == str(inputs.resolve()))

    def states() -> dict[str, int]:
        with database.transaction() as session:
            counted = session.execute(
                select(BatchItem.state, func.count())
                .where(BatchItem.batch_id.in_(this_batch))
                .group_by(BatchItem.state)
            ).all()
        return {state: count for state, count in counted}

    deadline = time.monotonic() + 120
    while states().get("done", 0) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = subprocess.run(["pgrep", "-P", str(first.pid)], capture_output=True, text=True).stdout.split()
    assert workers, "the coordinator runs a pool of worker processes"
    os.kill(first.pid, signal.SIGKILL)  # the coordinator dies mid-batch, its workers are orphaned
    first.wait()
    deadline = time.monotonic() + 15
    while any(map(running, workers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(map(running, workers)), "orphaned workers must leave"
    interrupted = states()
    assert 4 <= interrupted.get("done", 0) < 24, interrupted  # it really was interrupted half-way
    with database.reading() as session:
        batch_id = session.execute(this_batch).scalar_one()
        reported_done = session.scalars(
            select(BatchItem.signed_sha256).where(BatchItem.batch_id == batch_id, BatchItem.state == "done")
        ).all()
    entries = signed_entries(database, batch_id)
    assert sorted(map(str, reported_done)) == sorted(entries)  # done only together with its audit entry
    second = sqlite_deployment.cli(  # the holder activates the rest again: a SAD is never stored
        "sign-batch", str(inputs), str(outputs), "--cert", clerk_serial, stdin=HOLDER_PIN + "\n"
    )
    assert "resuming batch" in second.stderr
    assert "24 signed, 0 failed, of 24" in second.stdout
    assert sorted(p.name for p in outputs.iterdir()) == sorted(p.name for p in inputs.iterdir())
    assert states() == {"done": 24}
    outputs_hashes = [hashlib.sha256(path.read_bytes()).hexdigest() for path in outputs.iterdir()]
    assert sorted(signed_entries(database, batch_id)) == sorted(outputs_hashes)  # one each, none lost


def signed_entries(database: Database, batch_id: str) -> list[str]:
    """The signed_sha256 of every document.sign entry of the batch: one per output it reported signed."""
    with database.reading() as session:
        details = session.scalars(
            select(AuditEntry.details).where(
                AuditEntry.action == "document.sign", AuditEntry.actor.endswith(f"(batch {batch_id})")
            )
        ).all()
    return [json.loads(entry)["signed_sha256"] for entry in details]
