"""A batch as the database keeps it: the batch and its items, their outcomes, the options they are signed
with (as JSON, without the document password), and the queries that create, find and report on them.

What a batch must never store travels beside it: :class:`HolderSecrets` (the holder's SAD, the password).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ca.audit import AuditEvent
from ca.errors import NotFound
from ca.store import Database, UtcDateTime, utc_now
from signing.appearance import AppearanceMode, AppearanceRequest
from signing.documents import file_sha256
from signing.pades import Certification, Level, SigningOptions

__all__ = [
    "NO_ACTIVATION",
    "BatchItem",
    "BatchReport",
    "HolderSecrets",
    "ItemOutcome",
    "SigningBase",
    "SigningBatch",
    "batch_report",
    "create_batch",
    "options_from_json",
    "options_to_json",
    "pending_digests",
    "queued_documents",
    "recorded_output",
    "unfinished_batch",
]


class SigningBase(DeclarativeBase):
    """The signing room's own tables, apart from the CA's (``ca.store.Base``): the CA knows nothing of
    batches. ``govsign.db.schema`` puts every room's tables together for Alembic and ``create_all``."""


class SigningBatch(SigningBase):
    __tablename__ = "signing_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(160))  # the actor who created it: "cli:..." or "account:N:..."
    certificate_serial: Mapped[str] = mapped_column(String(48))
    options_json: Mapped[str] = mapped_column(Text)
    source_dir: Mapped[str] = mapped_column(Text)
    target_dir: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="running")  # running | finished | expired
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class BatchItem(SigningBase):
    __tablename__ = "signing_batch_items"
    __table_args__ = (UniqueConstraint("batch_id", "name", name="uq_batch_item_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("signing_batches.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    approved_sha256: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | running | done | failed
    error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    signed_sha256: Mapped[str | None] = mapped_column(String(64))
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class ItemOutcome:
    item_id: int
    name: str
    ok: bool
    error: str | None = None
    signed_sha256: str | None = None
    strict_reader_note: str | None = None  # see SignedDocument; reported to on_item, not stored
    archive_note: str | None = None  # likewise
    audit: AuditEvent | None = None  # a signed document's entry, appended with its outcome (signing.batch)


@dataclass(frozen=True)
class BatchReport:
    batch_id: str
    state: str
    total: int
    done: int
    failed: int
    items: list[dict[str, Any]]

    @property
    def failures(self) -> list[tuple[str, str]]:
        """Each failed document's name and reason, in the batch's order, whichever run failed it (a
        resumed run's own outcomes name only the documents it signed itself)."""
        return [(item["name"], item["error"] or "") for item in self.items if item["state"] == "failed"]

    def summary(self) -> str:
        """The final report as a person reads it: the counts, then one line per failed document."""
        counts = f"batch {self.batch_id}: {self.done} signed, {self.failed} failed, of {self.total}"
        return "\n".join([counts, *(f"  failed: {name}: {reason}" for name, reason in self.failures)])


# -- options travel as JSON: to the database (resume) and to worker processes ----------------------------


@dataclass(frozen=True)
class HolderSecrets:
    """What a batch needs and never stores: the holder's SAD for its documents, and the PDFs' password.
    They travel from the face to the workers in memory only (a resumed batch has neither)."""

    sad: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)


NO_ACTIVATION = HolderSecrets()  # a batch resumed by a server that never saw its holder


def options_to_json(options: SigningOptions) -> str:
    """The options as the batch row keeps them: everything but the document password."""
    values = asdict(replace(options, password=None))
    appearance = values.pop("appearance")
    appearance["image"] = str(options.appearance.image) if options.appearance.image else None
    return json.dumps({**values, "appearance": appearance}, ensure_ascii=False, default=str)


def options_from_json(text: str) -> SigningOptions:
    values = json.loads(text)
    appearance = values.pop("appearance")
    appearance["mode"] = AppearanceMode(appearance["mode"])
    appearance["image"] = Path(appearance["image"]) if appearance["image"] else None
    appearance["box"] = tuple(appearance["box"]) if appearance["box"] else None
    values["level"] = Level(values["level"])
    values["certify"] = Certification(values["certify"]) if values["certify"] else None
    return SigningOptions(appearance=AppearanceRequest(**appearance), **values)


# -- creating and finding batches -----------------------------------------------------------------------


def create_batch(
    database: Database,
    *,
    owner: str,
    serial: str,
    options: SigningOptions,
    sources: Iterable[Path],
    target_dir: Path,
    approved_digests: dict[str, str] | None = None,
    batch_id: str | None = None,
) -> str:
    """Record a batch of ``sources`` (file names unique) to be signed into ``target_dir``.

    Each item keeps the SHA-256 its holder approves (``approved_digests``, from the uploads, or the file's
    own at this moment): only that document is ever signed for it.
    """
    files = sorted(sources, key=lambda path: path.name)
    batch_id = batch_id or secrets.token_hex(8)
    source_dir = files[0].parent if files else target_dir
    with database.transaction() as session:
        session.add(
            SigningBatch(
                id=batch_id,
                owner=owner,
                certificate_serial=serial,
                options_json=options_to_json(options),
                source_dir=str(source_dir.resolve()),
                target_dir=str(target_dir.resolve()),
                state="running",
            )
        )
        session.flush()  # the batch row before its items (no ORM relationship orders them)
        for position, path in enumerate(files):
            digest = (approved_digests or {}).get(path.name) or file_sha256(path)
            session.add(
                BatchItem(batch_id=batch_id, position=position, name=path.name, approved_sha256=digest)
            )
    return batch_id


def pending_digests(database: Database, batch_id: str) -> list[bytes]:
    """The approved SHA-256 of every item still to sign, once per item (two copies of one file are two
    documents to sign): what the holder's PIN must activate."""
    with database.transaction() as session:
        digests = session.scalars(
            select(BatchItem.approved_sha256).where(
                BatchItem.batch_id == batch_id, BatchItem.state.in_(("pending", "running"))
            )
        ).all()
    return sorted(bytes.fromhex(digest) for digest in digests if digest)


def unfinished_batch(database: Database, *, owner: str, source_dir: Path, target_dir: Path) -> str | None:
    """The batch from these folders that a crash or a restart left running, if any."""
    with database.transaction() as session:
        return session.execute(
            select(SigningBatch.id).where(
                SigningBatch.owner == owner,
                SigningBatch.source_dir == str(source_dir.resolve()),
                SigningBatch.target_dir == str(target_dir.resolve()),
                SigningBatch.state == "running",
            )
        ).scalar_one_or_none()


def batch_report(database: Database, batch_id: str) -> BatchReport:
    """The batch as it stands, read from one snapshot without taking the writers' turn (the CLI asks for it
    after every document, the API and console at every poll, while the batch's workers write)."""
    with database.reading() as session:
        batch = session.get(SigningBatch, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}")
        items = (
            session.execute(
                select(BatchItem).where(BatchItem.batch_id == batch_id).order_by(BatchItem.position)
            )
            .scalars()
            .all()
        )
        rows = [
            {
                "position": i.position,
                "name": i.name,
                "state": i.state,
                "error": i.error,
                "signed_sha256": i.signed_sha256,
            }
            for i in items
        ]
        return BatchReport(
            batch_id=batch.id,
            state=batch.state,
            total=len(rows),
            done=sum(1 for row in rows if row["state"] == "done"),
            failed=sum(1 for row in rows if row["state"] == "failed"),
            items=rows,
        )


def recorded_output(database: Database, batch_id: str, name: str) -> Path | None:
    """The signed output of the batch's document ``name`` once the batch has reported it done, else None.

    A worker writes the output before the coordinator commits its outcome with its audit entry
    (:mod:`signing.batch` records documents in rounds); until that commit the file is not yet vouched for,
    and if the commit never comes (a crash) the next run removes it."""
    with database.reading() as session:
        row = session.execute(
            select(SigningBatch.target_dir, BatchItem.name)
            .join(BatchItem, BatchItem.batch_id == SigningBatch.id)
            .where(SigningBatch.id == batch_id, BatchItem.name == name, BatchItem.state == "done")
        ).one_or_none()
    return None if row is None else Path(row.target_dir) / row.name


def queued_documents(database: Database) -> int:
    """How many documents of running batches wait for their signature (pending or being signed): the
    batch queue's depth, for monitoring."""
    with database.reading() as session:
        count = session.execute(
            select(func.count())
            .select_from(BatchItem)
            .join(SigningBatch, SigningBatch.id == BatchItem.batch_id)
            .where(SigningBatch.state == "running", BatchItem.state.in_(("pending", "running")))
        ).scalar_one()
    return int(count)
