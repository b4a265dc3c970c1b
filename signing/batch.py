"""Many documents, one job: a clerk's 400 attachments signed with one key, on both cores, resumable.

A batch and its items live in the database before any signing starts. The coordinating process claims
items and hands them to a pool of worker processes (started with ``spawn``; each opens PKCS#11 itself);
a worker signs one document and checks what it wrote (:mod:`signing.self_check`: intact, made by the key,
its time-stamp intact), removing it when it does not verify. One bad document fails alone with its reason.
The pool stays up between batches of the same process, so a batch does not wait for workers to start.
A batch interrupted by a crash or a restart is resumed by running it again: items left "running" by a
dead coordinator are signed again, and since every output is written by an atomic rename, each input
ends with exactly one signed output.

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
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from ca.activation import ActivationError
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
from signing.pades import sign_pdf
from signing.self_check import check_own_signature

__all__ = ["run_batch"]

_log = logging.getLogger(__name__)


# -- running --------------------------------------------------------------------------------------------


def run_batch(
    database: Database,
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
    restart) each remaining item fails, unsigned, asking the holder to activate again.
    """
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    with database.transaction() as session:
        batch = session.get(SigningBatch, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}")
        target_dir = Path(batch.target_dir)
        todo = (
            session.execute(
                select(BatchItem.id)
                .where(BatchItem.batch_id == batch_id, BatchItem.state.in_(("pending", "running")))
                .order_by(BatchItem.position)
            )
            .scalars()
            .all()
        )
    _remove_leftovers(target_dir)
    pool = _warm_pool(processes, worker_environment, open_authority)
    waiting: set[Future[ItemOutcome]] = set()
    try:
        queue = list(todo)
        while queue or waiting:
            while queue and len(waiting) < 2 * processes:
                item_id = queue.pop(0)
                _mark(database, item_id, state="running", claimed_by=holder)
                waiting.add(pool.submit(_sign_item, batch_id, item_id, activation))
            finished, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in finished:
                outcome = future.result()
                _mark(
                    database,
                    outcome.item_id,
                    state="done" if outcome.ok else "failed",
                    error=outcome.error,
                    signed_sha256=outcome.signed_sha256,
                    finished_at=utc_now(),
                )
                on_item(outcome)
    except BrokenProcessPool:
        _discard_pool(pool)  # a worker died (killed, out of memory): the next batch starts a new pool
        raise
    except BaseException:
        for future in waiting:  # the pool outlives this batch: leave it nothing of ours to sign
            future.cancel()
        raise
    with database.transaction() as session:
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
    return batch_report(database, batch_id)


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


def _mark(database: Database, item_id: int, **changes: Any) -> None:
    with database.transaction() as session:
        item = session.get(BatchItem, item_id, with_for_update=True)
        assert item is not None
        for name, value in changes.items():
            setattr(item, name, value)


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


def _sign_item(batch_id: str, item_id: int, holder: HolderSecrets) -> ItemOutcome:
    authority = _worker_authority()
    with authority.database.transaction() as session:
        batch = session.get(SigningBatch, batch_id)
        item = session.get(BatchItem, item_id)
        assert batch is not None and item is not None
        source = Path(batch.source_dir) / item.name
        target = Path(batch.target_dir) / item.name
        serial, options, approved, name = (
            batch.certificate_serial,
            replace(options_from_json(batch.options_json), password=holder.password),
            item.approved_sha256,
            item.name,
        )
        owner = batch.owner
    actor = f"{owner} (batch {batch_id})"
    try:
        if approved is None or file_sha256(source) != approved:
            raise SigningError("the document is not the one approved for this batch (its SHA-256 differs)")
        if holder.sad is None:
            raise ActivationError(
                "the holder's activation for this batch has ended (the server restarted); nothing was "
                "signed: submit the remaining documents again with your PIN"
            )
        key = key_for_document(
            authority, subscriber_key(authority, serial), holder.sad, bytes.fromhex(approved), actor=actor
        )
        signed = sign_pdf(_worker_services(), key, source, target, options, actor=actor)
        check_own_signature(target, key.certificate)
    except (SigningError, CaError) as error:
        return ItemOutcome(item_id, name, ok=False, error=str(error))
    except Exception as error:  # a library's own exception: the item fails with it, the batch goes on
        _log.exception("signing %s of batch %s", name, batch_id)
        return ItemOutcome(item_id, name, ok=False, error=f"signing stopped: {type(error).__name__}: {error}")
    return ItemOutcome(
        item_id,
        name,
        ok=True,
        signed_sha256=signed.signed_sha256,
        strict_reader_note=signed.strict_reader_note,
        archive_note=signed.archive_note,
    )
