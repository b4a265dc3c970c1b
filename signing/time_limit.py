"""A hard time limit on the work done for one document, so that no file can hold a signer for good.

pyHanko walks a PDF's objects in Python; a file built to make it loop or crawl (cyclic references, millions
of objects) would otherwise keep a server worker or a batch process busy for ever. A watchdog thread raises
an exception inside the working thread when the limit passes (``PyThreadState_SetAsyncExc``): Python code
stops at its next bytecode, and the work is reported as refused. A call that stays inside C code (qpdf
parsing one huge stream) is stopped only when it returns to Python. Nor is a database transaction or an
HSM call: :mod:`ca.interruption` holds the stop back until the thread has left them, so that no lock
(SQLite's writers' turn, the token store's) is ever left held by a stopped document.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from ca import interruption
from signing.errors import DocumentTookTooLong

__all__ = ["within_time_limit"]

T = TypeVar("T")
_AGAIN_AFTER_SECONDS = 0.2


class _Expired(BaseException):
    """Raised into the working thread; a BaseException, so that libraries' ``except Exception`` blocks do
    not swallow it."""


class _Watchdog:
    """Raises :class:`_Expired` in the thread that entered it once ``seconds`` have passed, and again every
    fifth of a second until that thread leaves: asyncio (which pyHanko runs its signing in) logs and drops
    an exception that lands while its loop runs a callback, so one shot may not stop the work."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._thread_id = threading.get_ident()
        self._left = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="document-time-limit", daemon=True)

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._left.set()
        self._thread.join()  # no stop may come after the withdrawal below
        # An exception raised but not yet delivered would surface later, in unrelated code: withdraw it.
        interruption.forget(self._thread_id)

    def _watch(self) -> None:
        wait = self._seconds
        while not self._left.wait(wait):
            # held back while the thread is in a database transaction or an HSM call (ca.interruption)
            interruption.stop(self._thread_id, _Expired)
            wait = _AGAIN_AFTER_SECONDS


def within_time_limit(seconds: float, work: Callable[[], T]) -> T:
    """``work()``, or :class:`DocumentTookTooLong` when it runs longer than ``seconds``."""
    try:
        with _Watchdog(seconds):
            return work()
    except _Expired:
        raise DocumentTookTooLong(
            f"signing this PDF took longer than the limit of {seconds:g} s per document, so it was "
            "stopped; nothing was signed"
        ) from None
