"""A batch's final report names every document that failed and why, whichever run of the batch failed it:
a batch resumed after a crash still names the documents its first run failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ca.store import Database
from govsign.db.schema import schema
from signing.batch_store import BatchItem, batch_report, create_batch
from signing.pades import SigningOptions
from tests.pdf_samples import one_page_pdf

pytestmark = pytest.mark.pure


def test_the_report_of_a_resumed_batch_names_every_failed_document_and_its_reason(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'batches.db'}")
    schema().create_all(database.engine)
    sources = tmp_path / "in"
    sources.mkdir()
    files = [one_page_pdf(sources / f"van-ban-{n}.pdf") for n in range(3)]
    batch_id = create_batch(
        database, owner="cli:t", serial="1f", options=SigningOptions(), sources=files, target_dir=tmp_path
    )
    reasons = {
        "van-ban-0.pdf": "the PDF is damaged (xref not found); allow repair to have it rewritten",
        "van-ban-2.pdf": "the PDF is encrypted; give its password to sign it",
    }
    with database.transaction() as session:  # what the first run, killed half-way, left behind
        for item in session.query(BatchItem).filter_by(batch_id=batch_id):
            item.state = "failed" if item.name in reasons else "done"
            item.error = reasons.get(item.name)
    report = batch_report(database, batch_id)
    assert report.failures == [(name, reason) for name, reason in reasons.items()]
    summary = report.summary()
    assert summary.splitlines()[0] == f"batch {batch_id}: 1 signed, 2 failed, of 3"
    for name, reason in reasons.items():
        assert f"failed: {name}: {reason}" in summary
    database.dispose()
