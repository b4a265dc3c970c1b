"""Read-only transactions (``Database.reading``) and the writers' turn, on SQLite and PostgreSQL.

Readers of the hot paths (an API token's account, a certificate's key) used to take SQLite's write lock
like every writer, so a signHash queued three times behind other requests' writes. A reading
transaction must neither wait for a writer nor be able to write.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from ca.store import Lease
from tests.conftest import Deployment

WAIT_SECONDS = 30  # only a deadlock reaches it: the reader either never waits or waits forever


def test_a_reading_transaction_cannot_write(deployment: Deployment) -> None:
    database = deployment.authority.database
    with pytest.raises(DBAPIError), database.reading() as session:
        session.add(Lease(name="reading-writes", holder="test", expires_at=dt.datetime.now(dt.UTC)))
        session.flush()
    with database.transaction() as session:  # the connection went back to the pool able to write again
        session.add(Lease(name="after-reading", holder="test", expires_at=dt.datetime.now(dt.UTC)))
    with database.reading() as session:
        assert session.get(Lease, "after-reading") is not None
        assert session.get(Lease, "reading-writes") is None


def test_a_reader_does_not_wait_for_a_writer(deployment: Deployment) -> None:
    """A writer holds its transaction (on SQLite: the writers' turn and the write lock) until the reader
    has finished; the reader sees the last committed state, not the writer's uncommitted row."""
    database = deployment.authority.database
    writing, read_done = threading.Event(), threading.Event()

    def writer() -> None:
        with database.transaction() as session:
            session.add(Lease(name="uncommitted", holder="test", expires_at=dt.datetime.now(dt.UTC)))
            session.flush()
            writing.set()
            read_done.wait(WAIT_SECONDS)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(WAIT_SECONDS)
        with database.reading() as session:
            names = set(session.scalars(select(Lease.name)))
        read_done.set()
    finally:
        read_done.set()
        thread.join(WAIT_SECONDS)
    assert not thread.is_alive()
    assert "uncommitted" not in names
    with database.reading() as session:
        assert session.get(Lease, "uncommitted") is not None  # committed once the reader was done
