"""Work that a stop from another thread must never cut in half: database transactions and HSM calls.

The signing time limit (``signing/time_limit.py``) stops a document that takes too long by raising an
exception inside the signing thread (``PyThreadState_SetAsyncExc``), wherever that thread happens to be.
Landing inside a transaction's COMMIT, between a SQLite writer's COMMIT and the release of its turn, or
inside a PKCS#11 call that holds the token store's lock, it would leave a lock held for good and stop
every other writer or signer of the process, or of the machine. So those sections declare themselves
here, and the stop is held back while a thread is inside one:

* the stopper calls :func:`stop` instead of raising directly: the exception is raised at once if the
  thread is outside every shielded section, otherwise only noted;
* a thread entering a shielded section after it was told to stop gets the exception there, before the
  section begins (raised in the ordinary way, the pending asynchronous one withdrawn first);
* both sides decide under one lock, so no asynchronous exception is ever pending while a thread is inside
  a section. The stopper tries again (every fifth of a second) until the thread has left its section.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["forget", "stop", "uninterrupted"]

_lock = threading.Lock()
_depth: dict[int, int] = {}
_stopped: dict[int, type[BaseException]] = {}


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else ctypes.c_void_p(0)
    )


def stop(thread_id: int, exception: type[BaseException]) -> bool:
    """Raise ``exception`` in ``thread_id`` now if it is in no shielded section (True), else note that it
    must stop (False: call again later)."""
    with _lock:
        _stopped[thread_id] = exception
        if _depth.get(thread_id):
            return False
        _raise_in(thread_id, exception)
        return True


def forget(thread_id: int) -> None:
    """The stopper is done with ``thread_id``: withdraw any exception not yet delivered."""
    with _lock:
        _stopped.pop(thread_id, None)
        _raise_in(thread_id, None)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """A section :func:`stop` never cuts: the stop waits until it ends, or comes before it begins."""
    me = threading.get_ident()
    with _lock:
        told = None if _depth.get(me) else _stopped.get(me)  # inside a section, the outer one decides
        if told is not None:
            _raise_in(me, None)  # the asynchronous copy must not follow this one
            raise told()
        _depth[me] = _depth.get(me, 0) + 1
    try:
        yield
    finally:
        with _lock:
            left = _depth.pop(me) - 1
            if left:
                _depth[me] = left
