"""Signing speed when one PIN approves many documents (issue 12, item 4), for scripts/bench.py.

The per-document rows of bench_signing.py include the holder's activation (argon2id and the pepper HMAC:
~25 ms) in every signature, which is what one document through the API costs. A batch, or a CSC client
signing several hashes, pays it once. So, against raw pyHanko (PKCS11Signer, one process) in the same
run:

* one process, documents activated together: govsign's signature per document;
* a batch of 200 one-page PDFs through ``run_batch`` on two worker processes (both cores), each output
  checked, timed on the second batch of the process (the first starts the worker pool, which lives with
  the server), reported against raw pyHanko on one core.
"""

from __future__ import annotations

import hashlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_official import PIN, _median_ms, _one_page, _Signing

__all__ = ["batch_rows"]

ROUNDS = 60
BATCH = 200


def _documents(folder: Path, count: int) -> list[Path]:
    """``count`` one-page PDFs that differ (a comment after %%EOF), each approved by its own digest."""
    folder.mkdir(parents=True)
    page = _one_page(folder.parent / f"{folder.name}-page.pdf").read_bytes()
    paths = []
    for number in range(count):
        path = folder / f"van-ban-{number:04d}.pdf"
        path.write_bytes(page + f"\n% {folder.name} {number}\n".encode())
        paths.append(path)
    return paths


def _pre_activated_ms(signing: _Signing, work: Path) -> float:
    """Median ms of govsign signing one document when the holder's PIN approved all of them at once."""
    from ca.signing_keys import activate_for_documents
    from signing.appearance import AppearanceMode, AppearanceRequest
    from signing.pades import Level, SigningOptions, sign_pdf

    documents = _documents(work / "together", ROUNDS)
    digests = [hashlib.sha256(path.read_bytes()).digest() for path in documents]
    activation = activate_for_documents(signing.authority, signing.key, PIN, digests, actor="bench")
    options = SigningOptions(level=Level.B_B, appearance=AppearanceRequest(AppearanceMode.NONE))
    times = []
    for path, digest in zip(documents, digests, strict=True):
        began = time.perf_counter()
        sign_pdf(signing.services, activation.key_for(digest), path, work / "out.pdf", options, actor="bench")
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def _batch_seconds(signing: _Signing, work: Path, name: str) -> float:
    """Seconds for ``run_batch`` to sign and check BATCH documents on two worker processes."""
    from ca.signing_keys import activate_for_documents
    from govsign.config import runtime
    from signing.appearance import AppearanceMode, AppearanceRequest
    from signing.batch import run_batch
    from signing.batch_store import HolderSecrets, create_batch, pending_digests
    from signing.pades import Level, SigningOptions

    sources = _documents(work / name, BATCH)
    target = work / f"{name}-signed"
    target.mkdir()
    database = signing.authority.database
    options = SigningOptions(level=Level.B_B, appearance=AppearanceRequest(AppearanceMode.NONE))
    batch_id = create_batch(
        database, owner="bench", serial=signing.serial, options=options, sources=sources, target_dir=target
    )
    digests = pending_digests(database, batch_id)
    grant = activate_for_documents(signing.authority, signing.key, PIN, digests, actor="bench").grant
    began = time.perf_counter()
    report = run_batch(
        signing.authority,
        batch_id,
        open_authority=runtime.authority_from_environment,
        worker_environment={},
        processes=2,
        activation=HolderSecrets(sad=grant.sad),
    )
    seconds = time.perf_counter() - began
    if report.failed or report.done != BATCH:
        raise RuntimeError(f"the bench batch did not sign every document: {report.summary()}")
    return seconds


def batch_rows(env: dict[str, str]) -> list[tuple[str, str]]:
    work = Path(tempfile.mkdtemp(prefix="govsign-bench-batch-"))
    try:
        signing = _Signing(env, work)
        signing.raw()
        raw_ms = _median_ms(signing.raw, ROUNDS)
        together_ms = _pre_activated_ms(signing, work)
        raw_again = _median_ms(signing.raw, ROUNDS)
        raw = (raw_ms + raw_again) / 2
        cold = _batch_seconds(signing, work, "first")
        warm = _batch_seconds(signing, work, "second")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raw_rate = 1000 / raw
    warm_rate = BATCH / warm
    rows: list[tuple[str, Any]] = [
        (
            "invisible B-B one-page RSA-2048, one process, one PIN for 60 documents: govsign / raw pyHanko, "
            "ms per document (target govsign >= 3x)",
            f"{together_ms:.1f} / {raw:.1f} = {raw / together_ms:.2f}x",
        ),
        (
            f"batch of {BATCH} one-page PDFs (B-B, checked), 2 worker processes: documents/s "
            "(second batch of the process / first, which starts the pool)",
            f"{warm_rate:.1f} / {BATCH / cold:.1f}",
        ),
        (
            "batch on both cores / raw pyHanko on one core (target >= 5x)",
            f"{warm_rate:.1f} / {raw_rate:.1f} = {warm_rate / raw_rate:.2f}x",
        ),
    ]
    return rows
