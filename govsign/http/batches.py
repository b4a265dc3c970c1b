"""Signing batches, the API's and the console's: many documents under one activation, bound to their digests.

The caller uploads the documents with their token and PIN once; the activation's audit entry lists the
SHA-256 of every document, and a worker refuses any document whose digest is not the approved one. The
batch runs in the background on a process pool (202 Accepted); `GET /api/v1/batches/{id}` reports it and
`GET /api/v1/batches/{id}/documents/{name}` returns a signed document. A server that restarts resumes the
batches it finds running (:func:`resume_batches`), one server process per batch by a database lease.

The server keeps a finished batch's documents, uploaded and signed, for ``GOVSIGN_BATCH_RETENTION_DAYS``
(7 by default) and no longer: the maintenance loop deletes them (:func:`expire_batches`), audits it, and
the batch then reports "expired" instead of leaving a download to fail without a reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import shutil
import socket
import threading
import time
from pathlib import Path

from fastapi import UploadFile
from sqlalchemy import select

from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.errors import InvalidRequest, NotFound
from ca.signing_keys import subscriber_key
from ca.store import Database, acquire_lease, utc_now
from govsign.access.accounts import Account
from govsign.access.activation import HolderProof, authorise_documents
from govsign.config import runtime
from govsign.config.settings import Settings
from govsign.http.signing import account_image, signing_options, spool_upload
from signing.batch import run_batch
from signing.batch_store import NO_ACTIVATION, HolderSecrets, SigningBatch, create_batch
from signing.request import SigningRequest

log = logging.getLogger("govsign.batches")
_SAFE_NAME = re.compile(r"[^\w.\- ]+")
API_OWNER_PREFIX = "account:"
LEASE_SECONDS = 300
EXPIRED = "expired"  # a finished batch whose documents the retention period has deleted


def _folder(settings: Settings, batch_id: str) -> Path:
    return settings.home / "batches" / batch_id


def owned_batch(database: Database, account: Account, batch_id: str) -> SigningBatch:
    with database.transaction() as session:
        batch = session.get(SigningBatch, batch_id)
        if batch is None or not batch.owner.startswith(f"{API_OWNER_PREFIX}{account.id}:"):
            raise NotFound(f"no batch {batch_id} of yours")
        session.expunge(batch)
        return batch


def start_batch(
    account: Account,
    serial: str,
    files: list[UploadFile],
    form: SigningRequest,
    proof: HolderProof,
    *,
    authority: Authority,
    settings: Settings,
    client: str,
) -> tuple[str, int]:
    """Spool the uploads, have the holder's proof activate the key once for exactly their digests, and
    start the batch in the background; (batch id, number of documents). Shared by the API and the console.
    ``client`` is the address the activation's audit entry names."""
    subscriber_key(authority, serial)  # refuse a revoked or expired certificate before taking the files
    batch_id = secrets.token_hex(8)
    folder = _folder(settings, batch_id)
    (folder / "in").mkdir(parents=True, mode=0o700)
    (folder / "out").mkdir(mode=0o700)
    try:
        digests = _spool_all(files, folder / "in", settings.max_document_bytes)
        image = account_image(account, form.appearance, folder)
        options = signing_options(form, image, settings)
        documents = sorted(bytes.fromhex(digest) for digest in digests.values())  # a copy twice: twice
        grant = authorise_documents(authority, account, serial, proof, documents, client=client).grant
        activation = HolderSecrets(sad=grant.sad, password=options.password)
        create_batch(
            authority.database,
            owner=f"{API_OWNER_PREFIX}{account.id}:{account.holder}",
            serial=serial,
            options=options,
            sources=[folder / "in" / name for name in digests],
            target_dir=folder / "out",
            approved_digests=digests,
            batch_id=batch_id,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _start_in_background(authority, batch_id, activation)
    return batch_id, len(digests)


def _spool_all(files: list[UploadFile], folder: Path, limit: int) -> dict[str, str]:
    """Each upload to ``folder`` under a safe, unique name; returns name -> SHA-256."""
    if not files:
        raise InvalidRequest("send at least one PDF")
    digests: dict[str, str] = {}
    for number, upload in enumerate(files):
        stem = _SAFE_NAME.sub("_", Path(upload.filename or f"document-{number}").stem)[:100] or "document"
        name = f"{number:04}-{stem}.pdf"
        _, digests[name] = spool_upload(upload, folder, limit, name)
    return digests


# -- running in the background --------------------------------------------------------------------------


_running_here: set[str] = set()
_running_here_lock = threading.Lock()


def _start_in_background(
    authority: Authority, batch_id: str, activation: HolderSecrets = NO_ACTIVATION
) -> None:
    """Run the batch on a thread of this process unless one already does. The database lease keeps other
    processes off it, but its holder is this process, so the lease alone would let every maintenance tick
    start the same batch again here (each with its own process pool, signing the same items twice).
    ``activation``: the holder's SAD and the PDFs' password, in memory only; a batch resumed without them
    signs nothing."""
    with _running_here_lock:
        if batch_id in _running_here:
            return
        _running_here.add(batch_id)
    threading.Thread(
        target=_run_leased, args=(authority, batch_id, activation), name=f"batch-{batch_id}", daemon=True
    ).start()


def _run_leased(authority: Authority, batch_id: str, activation: HolderSecrets) -> None:
    """Run the batch while holding its lease (renewed as documents finish)."""
    try:
        _run_under_lease(authority, batch_id, activation)
    finally:
        with _running_here_lock:
            _running_here.discard(batch_id)


def _run_under_lease(authority: Authority, batch_id: str, activation: HolderSecrets) -> None:
    database = authority.database
    holder = f"{socket.gethostname()}:{os.getpid()}"
    lease = f"batch:{batch_id}"
    renewed = time.monotonic()

    def renew(*_: object) -> None:
        """A document finished: the lease is renewed, at most every tenth of its length (a round of
        documents reports them together, and each renewal is a write in the database's one turn)."""
        nonlocal renewed
        if time.monotonic() - renewed < LEASE_SECONDS / 10:
            return
        with database.transaction() as session:
            acquire_lease(session, lease, holder, LEASE_SECONDS)
        renewed = time.monotonic()

    with database.transaction() as session:
        if not acquire_lease(session, lease, holder, LEASE_SECONDS):
            return
    try:
        run_batch(
            authority,
            batch_id,
            open_authority=runtime.authority_from_environment,
            worker_environment={},
            on_item=renew,
            activation=activation,
        )
    except Exception as error:  # a background batch must never take the server down; it resumes later
        log.warning("batch %s stopped: %s: %s", batch_id, type(error).__name__, error)


def resume_batches(authority: Authority) -> int:
    """Start every running API batch that no process works on (a previous server's, once its lease has
    run out); called by every server process's maintenance loop. Returns how many it looked at."""
    with authority.database.transaction() as session:
        running = (
            session.execute(
                select(SigningBatch.id).where(
                    SigningBatch.state == "running", SigningBatch.owner.startswith(API_OWNER_PREFIX)
                )
            )
            .scalars()
            .all()
        )
    for batch_id in running:
        _start_in_background(authority, batch_id)
    return len(running)


def expire_batches(authority: Authority, settings: Settings) -> list[str]:
    """Delete the folders of API and console batches finished more than the retention period ago, mark
    them expired and audit it; returns their ids. Every server process runs this: deleting a folder
    twice is harmless, and the state changes once, under the row's lock. A folder that cannot be deleted
    keeps its batch finished, to be tried again at the next round."""
    cutoff = utc_now() - dt.timedelta(days=settings.batch_retention_days)
    with authority.database.transaction() as session:
        due = session.scalars(
            select(SigningBatch.id).where(
                SigningBatch.state == "finished",
                SigningBatch.finished_at < cutoff,
                SigningBatch.owner.startswith(API_OWNER_PREFIX),
            )
        ).all()
    expired = []
    for batch_id in due:
        try:
            shutil.rmtree(_folder(settings, batch_id))
        except FileNotFoundError:
            pass
        except OSError as error:
            log.warning("batch %s: its documents could not be deleted: %s", batch_id, error)
            continue
        with authority.database.transaction() as session:
            batch = session.get(SigningBatch, batch_id, with_for_update=True)
            if batch is None or batch.state != "finished":
                continue
            batch.state = EXPIRED
            details = {"retention_days": settings.batch_retention_days}
            event = AuditEvent("govsign:retention", "batch.expire", f"batch:{batch_id}", details=details)
            append(session, authority.token, event)
        expired.append(batch_id)
    return expired


def look_after_batches(authority: Authority, settings: Settings) -> None:
    """The maintenance loop's round for batches: old documents deleted, interrupted batches resumed."""
    expire_batches(authority, settings)
    resume_batches(authority)
