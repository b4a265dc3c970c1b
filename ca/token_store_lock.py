"""A reader/writer lock, across processes, around a SoftHSM2 token folder.

SoftHSM2's file store rewrites ``token.object`` in place at every C_Login (it clears the "PIN count low"
flag), and a process that re-reads the token at that moment finds the file empty, marks its whole view of
the token invalid and keeps it so until C_Finalize: keys seem to vanish, handles and half-done operations
die. Two issuing processes starting together were enough to fail CI this way, and each recovery logs in
again, which knocks the other process over in turn.

Every govsign process therefore takes this lock shared around each PKCS#11 call and exclusively around
C_Login. It is two ``flock`` files in the token folder (SoftHSM2 only looks at sub-folders there):

* ``govsign-store.lock``, held shared by readers and exclusively by a login;
* ``govsign-store.gate``, which a login holds exclusively while it waits, so that a steady stream of
  readers cannot starve it (``flock`` has no writer preference of its own).

``flock`` locks belong to an open file description, so each thread opens the files itself; threads of one
process then exclude one another exactly as threads of different processes do.

The lock lives with the tokens, so it goes when they go: a token folder moved away, unmounted or made
unreadable is an HSM outage, and a thread that must open the lock files then reports
:class:`~ca.errors.HsmUnavailable` like any other outage (retried by the caller, then answered with
tryLater, systemFailure or 503), never an ``OSError`` that would reach a user as a 500.

Other PKCS#11 modules (network and PCIe HSMs) keep their state in the device and need none of this:
:func:`store_lock_for` returns a lock that does nothing for them.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ca.errors import HsmUnavailable

__all__ = ["TokenStoreLock", "store_lock_for"]

_DEFAULT_SOFTHSM_CONF = Path("/etc/softhsm/softhsm2.conf")
_TOKEN_DIR_SETTING = re.compile(r"^\s*directories\.tokendir\s*=\s*(.+?)\s*$", re.MULTILINE)


class _ThreadLockFiles(threading.local):
    """This thread's own open lock files (closed when the thread ends and the object is collected)."""

    files: dict[Path, IO[bytes]]

    def __init__(self) -> None:
        self.files = {}


class TokenStoreLock:
    """Shared for PKCS#11 calls, exclusive for logins; a no-op when ``folder`` is None."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._local = _ThreadLockFiles()

    def _file(self, name: str) -> int:
        assert self.folder is not None
        path = self.folder / name
        opened = self._local.files.get(path)
        if opened is None:
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:
                raise HsmUnavailable(
                    f"HSM unavailable: the token store lock {path} cannot be opened ({error.strerror}); "
                    "try again shortly"
                ) from error
            opened = self._local.files[path] = os.fdopen(descriptor, "r+b")
        return opened.fileno()

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Held around every PKCS#11 call, C_Initialize included (it reads every token)."""
        if self.folder is None:
            yield
            return
        lock, gate = self._file("govsign-store.lock"), self._file("govsign-store.gate")
        fcntl.flock(gate, fcntl.LOCK_SH)  # waits while a login is queued
        try:
            fcntl.flock(lock, fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held around C_Login, which rewrites the token file that every reader depends on."""
        if self.folder is None:
            yield
            return
        lock, gate = self._file("govsign-store.lock"), self._file("govsign-store.gate")
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)


def _softhsm_token_folder() -> Path | None:
    """SoftHSM2's token folder, from the configuration file it reads itself (``SOFTHSM2_CONF``)."""
    configuration = Path(os.environ.get("SOFTHSM2_CONF", _DEFAULT_SOFTHSM_CONF))
    try:
        match = _TOKEN_DIR_SETTING.search(configuration.read_text(encoding="utf-8"))
    except OSError:
        return None
    folder = Path(match.group(1)) if match else None
    return folder if folder is not None and folder.is_dir() else None


def store_lock_for(module_path: str) -> TokenStoreLock:
    """The store lock for a PKCS#11 module: SoftHSM2's token folder, or nothing for any other module."""
    if "softhsm" not in Path(module_path).name.lower():
        return TokenStoreLock(None)
    return TokenStoreLock(_softhsm_token_folder())
