"""Many documents, one job: a clerk's 400 attachments signed with one key, on both cores, resumable.

A batch and its items live in the database before any signing starts. The coordinating process claims
items and hands them to a pool of worker processes (started with ``spawn``; each opens PKCS#11 itself);
a worker signs one document, checks the result with pyHanko's validator (intact, valid, trusted by our
root) and only then renames it into the output folder. One bad document fails alone with its reason.
A batch interrupted by a crash or a restart is resumed by running it again: items left "running" by a
dead coordinator are signed again, and since every output is written by an atomic rename, each input
ends with exactly one signed output.

When the batch was approved for a list of document digests (the API's single activation), a worker
refuses any document whose digest is not the approved one.
"""

from __future__ import annotations

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
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select

from ca.activation import ActivationError
from ca.authority import Authority
from ca.errors import CaError, NotFound
from ca.signing_keys import SubscriberKey, key_for_document, subscriber_key
from ca.status import StatusServices
from ca.store import Database, utc_now
from signing.aes256_revision5 import decrypt
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
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        processes,
        mp_context=context,
        initializer=_worker_start,
        initargs=(worker_environment, open_authority, os.getpid()),
    ) as pool:
        waiting: set[Future[ItemOutcome]] = set()
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
        _verify(target, key, options.password)
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


def _verify(path: Path, key: SubscriberKey, password: str | None) -> None:
    """pyHanko's validator on the signature just made: intact, valid and trusted, its time-stamp too (when
    there is one), or the item fails and its output is removed."""
    chain = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in key.chain]
    context = ValidationContext(
        trust_roots=chain[-1:], other_certs=chain[:-1], allow_fetching=False, revocation_mode="soft-fail"
    )
    with path.open("rb") as stream:
        reader = PdfFileReader(stream, strict=False)
        if reader.encrypted:
            decrypt(reader, password)
        signature = reader.embedded_regular_signatures[-1]
        status = validate_pdf_signature(signature, context, context, skip_diff=True)
    stamp = status.timestamp_validity
    if not (status.intact and status.valid and status.trusted) or (stamp is not None and not stamp.trusted):
        path.unlink(missing_ok=True)
        raise SigningError(f"the signed output did not verify: {status.summary()}")
