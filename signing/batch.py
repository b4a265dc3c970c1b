"""Many documents, one job: a clerk's 400 attachments signed with one key, on both cores, resumable.

A batch and its items live in the database before any signing starts. The coordinating process claims
items and hands them to a pool of worker processes (started with ``spawn``; each opens PKCS#11 itself);
a worker signs one document and checks what it wrote (:mod:`signing.self_check`: intact, made by the key,
its time-stamp intact), removing it when it does not verify. One bad document fails alone with its reason.
The pool stays up between batches of the same process, so a batch does not wait for workers to start.

The coordinator records the documents' outcomes in rounds: one commit per round (up to _ROUND_MOST
documents, or what finished within _ROUND_SECONDS) holds each document's outcome and, for each signed
one, its own ``document.sign`` audit entry. So a document is reported done exactly when its entry has
committed, and the audit head is locked and its HSM anchor moved once per round, not once per document.

A batch interrupted by a crash or a restart is resumed by running it again: items left "running" by a
dead coordinator are signed again (or fail, when the holder's activation died with it), their unrecorded
outputs removed first; since every output is written by an atomic rename, each input ends with exactly
one signed output, vouched for by one ``document.sign`` entry of the round that reported it.

When the batch was approved for a list of document digests (the API's single activation), a worker
refuses any document whose digest is not the approved one.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import secrets
import shutil
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from sqlalchemy import func, select, update

from ca.activation import ActivationError
from ca.audit import append
from ca.authority import Authority
from ca.errors import CaError, NotFound
from ca.signing_keys import key_for_document, subscriber_key
from ca.status import StatusServices
from ca.store import Database, utc_now
from signing.batch_store import (
    NO_ACTIVATION,
    BatchItem,
    BatchReport,
    HolderSecrets,
    ItemOutcome,
    SigningBatch,
    batch_report,
    options_from_json,
)
from signing.documents import file_sha256
from signing.errors import SigningError
from signing.pades import SigningOptions, sign_pdf_unrecorded
from signing.self_check import check_own_signature

__all__ = ["run_batch"]

_log = logging.getLogger(__name__)
_ROUND_MOST = 16  # documents recorded in one commit at most
_ROUND_SECONDS = 1.0  # how long a finished document waits at most for its round's commit


# -- running --------------------------------------------------------------------------------------------


def run_batch(
    authority: Authority,
    batch_id: str,
    *,
    open_authority: Callable[[], Authority],
    worker_environment: dict[str, str],
    processes: int = 2,
    on_item: Callable[[ItemOutcome], None] = lambda outcome: None,
    activation: HolderSecrets = NO_ACTIVATION,
) -> BatchReport:
    """Sign every pending item of ``batch_id`` (and any left running by a dead coordinator).

    ``open_authority`` must be a module-level function (it is sent to the spawned workers, which call it
    once, with ``worker_environment`` in their environment, to reach the database and the HSM).
    ``activation.sad`` is the holder's activation for the batch's approved documents (docs/SOLE-CONTROL.md):
    it travels to the workers with each item and is never stored; without it (a batch resumed after a
    restart) each remaining item fails, unsigned, asking the holder to activate again. ``on_item`` hears of
    each document once its outcome (and, when signed, its audit entry) has committed.
    """
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    todo, target_dir = _documents_to_sign(authority.database, batch_id)
    _remove_leftovers(target_dir)
    pool = _warm_pool(processes, worker_environment, open_authority)
    queue = deque(todo)
    window = _ROUND_MOST + 2 * processes  # enough in flight to keep every worker busy through a commit
    signing: set[Future[ItemOutcome]] = set()
    finished: list[ItemOutcome] = []
    first_finished = 0.0
    try:
        while queue or signing or finished:
            waited = time.monotonic() - first_finished
            if not signing or len(finished) >= _ROUND_MOST or (finished and waited >= _ROUND_SECONDS):
                claimed = [queue.popleft() for _ in range(min(len(queue), window - len(signing)))]
                _record_round(authority, finished, claimed, holder)
                for outcome in finished:
                    on_item(outcome)
                finished = []
                signing |= {pool.submit(_sign_item, work, activation) for work in claimed}
                continue
            timeout = max(0.0, _ROUND_SECONDS - waited) if finished else None
            done, signing = wait(signing, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                if not finished:
                    first_finished = time.monotonic()
                finished.append(future.result())
    except BrokenProcessPool:
        _discard_pool(pool)  # a worker died (killed, out of memory): the next batch starts a new pool
        _record_round(authority, finished, [], holder)  # signed already, each with its activation spent
        raise
    except BaseException:
        for future in signing:  # the pool outlives this batch: leave it nothing of ours to sign
            future.cancel()
        raise
    with authority.database.transaction() as session:
        remaining = session.scalar(
            select(func.count())
            .select_from(BatchItem)
            .where(BatchItem.batch_id == batch_id, BatchItem.state.in_(("pending", "running")))
        )
        batch = session.get(SigningBatch, batch_id)
        assert batch is not None
        if not remaining:
            batch.state = "finished"
            batch.finished_at = utc_now()
    return batch_report(authority.database, batch_id)


@dataclass(frozen=True)
class _Assignment:
    """One document for a worker, with everything it needs from the batch's rows: the coordinator reads
    them once, so a worker's only database work is the holder's activation."""

    item_id: int
    name: str
    source: Path
    target: Path
    serial: str
    approved_sha256: str | None
    options: SigningOptions  # without the document password, which travels in HolderSecrets
    actor: str


def _documents_to_sign(database: Database, batch_id: str) -> tuple[list[_Assignment], Path]:
    """The batch's documents still to sign, in its order, and its output folder. An item a dead
    coordinator left running may have an output whose outcome and audit entry never committed: that
    output is removed here (the item is signed again, or fails for want of the holder's activation), so
    that a crash leaves behind no signed output the audit log does not vouch for."""
    with database.transaction() as session:
        batch = session.get(SigningBatch, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}")
        items = session.scalars(
            select(BatchItem)
            .where(BatchItem.batch_id == batch_id, BatchItem.state.in_(("pending", "running")))
            .order_by(BatchItem.position)
        ).all()
        source_dir, target_dir = Path(batch.source_dir), Path(batch.target_dir)
        options = options_from_json(batch.options_json)
        actor = f"{batch.owner} (batch {batch_id})"
        todo = [
            _Assignment(
                item.id,
                item.name,
                source_dir / item.name,
                target_dir / item.name,
                batch.certificate_serial,
                item.approved_sha256,
                options,
                actor,
            )
            for item in items
        ]
        unrecorded = [target_dir / item.name for item in items if item.state == "running"]
    for output in unrecorded:
        output.unlink(missing_ok=True)
    return todo, target_dir


def _record_round(
    authority: Authority, outcomes: list[ItemOutcome], claimed: list[_Assignment], holder: str
) -> None:
    """One commit for a round: the outcomes of the documents signed since the last one, each signed
    document with its own ``document.sign`` audit entry (one lock of the audit head and one move of its HSM
    anchor for them all, instead of one audited commit per document), and the next documents marked
    running before any worker starts on them. A document is done when, and only when, its entry is."""
    if not outcomes and not claimed:
        return
    with authority.database.transaction() as session:
        for outcome in outcomes:
            item = session.get(BatchItem, outcome.item_id, with_for_update=True)
            assert item is not None
            item.state = "done" if outcome.ok else "failed"
            item.error, item.signed_sha256, item.finished_at = outcome.error, outcome.signed_sha256, utc_now()
            if outcome.audit is not None:
                append(session, authority.token, outcome.audit)
        if claimed:
            session.execute(
                update(BatchItem)
                .where(BatchItem.id.in_([work.item_id for work in claimed]))
                .values(state="running", claimed_by=holder)
            )


# Worker pools live as long as the process that runs batches (the server, or one CLI command): starting
# two spawned workers (PKCS#11, pyHanko, a database pool) took seconds, longer than signing a few dozen
# documents. One pool per set of workers' settings; a broken one is dropped and made again.
_pools: dict[tuple[object, ...], ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def _warm_pool(
    processes: int, worker_environment: dict[str, str], open_authority: Callable[[], Authority]
) -> ProcessPoolExecutor:
    key = (processes, tuple(sorted(worker_environment.items())), open_authority)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ProcessPoolExecutor(
                processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_start,
                initargs=(worker_environment, open_authority, os.getpid()),
            )
        return pool


def _discard_pool(pool: ProcessPoolExecutor) -> None:
    with _pools_lock:
        for key in [key for key, kept in _pools.items() if kept is pool]:
            del _pools[key]
    pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def _shut_pools() -> None:
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def _remove_leftovers(target_dir: Path) -> None:
    """Temporary files a killed worker left in the batch's output folder (outputs are renamed into place,
    so these are only ever half-written copies)."""
    for leftover in target_dir.glob(".*.partial"):
        leftover.unlink(missing_ok=True)
    for folder in target_dir.glob(".govsign-*"):
        shutil.rmtree(folder, ignore_errors=True)


# -- in the worker processes ----------------------------------------------------------------------------


_open_authority: Callable[[], Authority] | None = None


def _worker_start(
    environment: dict[str, str], open_authority: Callable[[], Authority], coordinator: int
) -> None:
    global _open_authority
    os.environ.update(environment)
    _open_authority = open_authority
    threading.Thread(target=_exit_with, args=(coordinator,), name="orphan-watch", daemon=True).start()


def _exit_with(coordinator: int) -> None:
    """A pool worker outlives a killed coordinator (it holds both ends of its own queue's pipe, so it never
    sees end-of-file); it leaves as soon as it is orphaned, its half-written output cleared on resume.
    The coordinator's pid comes from the coordinator: one that died while the worker was starting would
    otherwise leave it with init as the parent it watches."""
    while os.getppid() == coordinator:
        time.sleep(1)
    os._exit(1)


@cache
def _worker_authority() -> Authority:
    assert _open_authority is not None, "workers are started by run_batch"
    return _open_authority()


@cache
def _worker_services() -> StatusServices:
    return StatusServices(_worker_authority())


def _sign_item(work: _Assignment, holder: HolderSecrets) -> ItemOutcome:
    authority = _worker_authority()
    options = replace(work.options, password=holder.password)
    try:
        if work.approved_sha256 is None or file_sha256(work.source) != work.approved_sha256:
            raise SigningError("the document is not the one approved for this batch (its SHA-256 differs)")
        if holder.sad is None:
            raise ActivationError(
                "the holder's activation for this batch has ended (the server restarted); nothing was "
                "signed: submit the remaining documents again with your PIN"
            )
        key = key_for_document(
            authority,
            subscriber_key(authority, work.serial),
            holder.sad,
            bytes.fromhex(work.approved_sha256),
            actor=work.actor,
        )
        signed = sign_pdf_unrecorded(_worker_services(), key, work.source, work.target, options)
        check_own_signature(work.target, key.certificate)
    except (SigningError, CaError) as error:
        return ItemOutcome(work.item_id, work.name, ok=False, error=str(error))
    except Exception as error:  # a library's own exception: the item fails with it, the batch goes on
        _log.exception("signing %s (%s)", work.name, work.actor)
        return ItemOutcome(
            work.item_id, work.name, ok=False, error=f"signing stopped: {type(error).__name__}: {error}"
        )
    return ItemOutcome(
        work.item_id,
        work.name,
        ok=True,
        signed_sha256=signed.signed_sha256,
        strict_reader_note=signed.strict_reader_note,
        archive_note=signed.archive_note,
        audit=signed.audit_event(work.actor),
    )
