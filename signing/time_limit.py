"""A hard time limit on the work done for one document, so that no file can hold a signer for good.

pyHanko walks a PDF's objects in Python; a file built to make it loop or crawl (cyclic references, millions
of objects) would otherwise keep a server worker or a batch process busy for ever. A watchdog thread raises
an exception inside the working thread when the limit passes (``PyThreadState_SetAsyncExc``): Python code
stops at its next bytecode, and the work is reported as refused. A call that stays inside C code (qpdf
parsing one huge stream) is stopped only when it returns to Python.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import TypeVar

from signing.errors import DocumentTookTooLong

__all__ = ["within_time_limit"]

T = TypeVar("T")


class _Expired(BaseException):
    """Raised into the working thread; a BaseException, so that libraries' ``except Exception`` blocks do
    not swallow it."""


class _Watchdog:
    def __init__(self, seconds: float) -> None:
        self._thread_id = threading.get_ident()
        self._lock = threading.Lock()
        self._finished = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._finished = True
            # An exception raised but not yet delivered would surface later, in unrelated code: withdraw it.
            _raise_in_thread(self._thread_id, None)

    def _expire(self) -> None:
        with self._lock:
            if not self._finished:
                _raise_in_thread(self._thread_id, _Expired)


def _raise_in_thread(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else ctypes.c_void_p(0)
    )


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
