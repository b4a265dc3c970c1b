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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    """One thread per process that raises :class:`_Expired` in each watched thread once its time has
    passed, and again every fifth of a second until that thread leaves: asyncio (which pyHanko runs its
    signing in) logs and drops an exception that lands while its loop runs a callback, so one shot may not
    stop the work. One thread for all documents, started once: a thread started per document cost a batch
    worker about 5 % of each document's time (a start waits for the scheduler to run the new thread).

    Stops are raised only under the watchdog's lock and only for registered documents, so once
    :meth:`watching` has withdrawn a document no stop can come for it."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._due: dict[object, tuple[int, float]] = {}  # each document: its thread, when to stop it
        self._thread: threading.Thread | None = None

    @contextmanager
    def watching(self, seconds: float) -> Iterator[None]:
        document, thread_id = object(), threading.get_ident()
        with self._condition:
            self._due[document] = (thread_id, time.monotonic() + seconds)
            if self._thread is None or not self._thread.is_alive():  # not yet, or not in a forked child
                self._thread = threading.Thread(target=self._watch, name="document-time-limit", daemon=True)
                self._thread.start()
            self._condition.notify()
        try:
            yield
        finally:
            self._withdraw(document, thread_id)

    def _withdraw(self, document: object, thread_id: int) -> None:
        while document in self._due:
            try:
                with self._condition:
                    self._due.pop(document, None)
            except _Expired:
                continue  # a stop landed while leaving: the limit had passed anyway, and it must not repeat
        # An exception raised but not yet delivered would surface later, in unrelated code: withdraw it.
        interruption.forget(thread_id)

    def _watch(self) -> None:
        with self._condition:
            while True:
                now = time.monotonic()
                for document, (thread_id, due) in list(self._due.items()):
                    if due <= now:
                        # held back while the thread is in a database transaction or an HSM call
                        interruption.stop(thread_id, _Expired)
                        self._due[document] = (thread_id, now + _AGAIN_AFTER_SECONDS)
                soonest = min((due for _, due in self._due.values()), default=None)
                self._condition.wait(None if soonest is None else soonest - now)


_watchdog = _Watchdog()


def within_time_limit(seconds: float, work: Callable[[], T]) -> T:
    """``work()``, or :class:`DocumentTookTooLong` when it runs longer than ``seconds``."""
    try:
        with _watchdog.watching(seconds):
            return work()
    except _Expired:
        raise DocumentTookTooLong(
            f"signing this PDF took longer than the limit of {seconds:g} s per document, so it was "
            "stopped; nothing was signed"
        ) from None
