"""The SQLite engine: private files, WAL, and writers that take turns in arrival order.

Every transaction on SQLite begins with ``BEGIN IMMEDIATE`` (the write lock at BEGIN), so that two
processes never both read the same audit head (see :mod:`ca.store`). SQLite's own wait for that lock is a
busy handler that sleeps and polls, with sleeps growing to 100 ms: under steady contention from two
server workers a waiter can lose the race again and again while the other process re-takes the lock, and
one request in a hundred waited most of a second (CSC signHash, 8 clients: p50 32 ms, p99 871 ms).

So before ``BEGIN IMMEDIATE`` each connection first takes an exclusive ``flock`` on a companion file,
``<database>-writelock``, and gives it back right after its COMMIT or ROLLBACK. The kernel wakes a waiter
the moment the lock is released, in every process and thread alike (each connection opens the file for
itself, and ``flock`` locks belong to the open file, not the process). SQLite's busy timeout stays as the
safety net for anyone who writes without the turn (the sqlite3 shell, a backup tool).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

__all__ = ["READ_ONLY_OPTION", "keep_sqlite_files_private", "sqlite_engine"]

# The execution option of :meth:`ca.store.Database.reading`'s engine: a deferred BEGIN (a WAL snapshot
# that needs no lock) with ``query_only`` on, instead of the writers' turn and BEGIN IMMEDIATE.
READ_ONLY_OPTION = "govsign_read_only"

_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")
_TURN_SUFFIX = "-writelock"
_BUSY_TIMEOUT_SECONDS = 30


def _file_path(url: str) -> str | None:
    """The database's file path, or None for an in-memory or URI-named database."""
    path = make_url(url).database if url.startswith("sqlite") else None
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


class _TurnTakingConnection(sqlite3.Connection):
    """A sqlite3 connection that holds the writers' turn from its BEGIN to its COMMIT or ROLLBACK."""

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        named = database if isinstance(database, str) else None
        self._turn_path = named + _TURN_SUFFIX if named and named != ":memory:" else None
        self._turn_file: int | None = None
        self._holding = False
        self._reading = False

    def take_turn(self) -> None:
        """Wait (blocking, woken on release) until no other connection holds the turn."""
        if self._turn_path is None or self._holding:
            return
        if self._turn_file is None:
            self._turn_file = os.open(self._turn_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._turn_file, fcntl.LOCK_EX)
        self._holding = True

    def end_turn(self) -> None:
        if self._holding and self._turn_file is not None:
            fcntl.flock(self._turn_file, fcntl.LOCK_UN)
        self._holding = False

    def begin_reading(self) -> None:
        """A read-only snapshot: deferred BEGIN takes no lock in WAL mode; ``query_only`` refuses writes."""
        self.execute("PRAGMA query_only=ON")
        self._reading = True
        self.execute("BEGIN")

    def _end(self) -> None:
        self.end_turn()
        if self._reading:
            self._reading = False
            self.execute("PRAGMA query_only=OFF")

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()
            if self._turn_file is not None:
                os.close(self._turn_file)
                self._turn_file = None


def sqlite_engine(url: str) -> Engine:
    """An engine for ``url`` whose files are private and whose transactions take turns (see above)."""
    keep_sqlite_files_private(url)
    engine = create_engine(
        url, connect_args={"timeout": _BUSY_TIMEOUT_SECONDS, "factory": _TurnTakingConnection}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the begin event below issue BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        raw: _TurnTakingConnection = connection.connection.dbapi_connection
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            raw.begin_reading()
            return
        raw.take_turn()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            raw.end_turn()
            raise

    return engine


def keep_sqlite_files_private(url: str) -> None:
    """Create a SQLite database file owner-only (0600) before SQLite does, and tighten one made earlier.

    The file holds the audit log, account hashes and every certificate request; SQLite would create it,
    and its -wal and -shm, with the umask's mode (0644 under the usual 022). SQLite gives the -wal, -shm
    and -journal files the mode of the database file, so creating that one right is enough for new
    files; existing ones readable by others are narrowed here. The writers' turn file holds nothing and
    is created 0600 all the same.
    """
    path = _file_path(url)
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # empty file: empty database
    except FileExistsError:
        pass
    except FileNotFoundError:
        return  # no folder yet: SQLite reports that itself
    for suffix in _SQLITE_COMPANIONS:
        try:
            mode = os.stat(path + suffix).st_mode
            if mode & 0o077:
                os.chmod(path + suffix, stat.S_IMODE(mode) & 0o600)
        except (FileNotFoundError, PermissionError):
            continue  # absent, or another user's file: SQLite and the operator decide
