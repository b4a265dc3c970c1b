"""The one clock every part of govsign reads (Boulder's ``clock.Clock``): the system's, or a test's.

Time is always timezone-aware UTC here; Vietnam time appears only where a person reads it. Domain code
asks :func:`now` (``ca.store.utc_now`` is the same clock), so a test moves time with :func:`frozen` and
:meth:`FrozenClock.advance` instead of sleeping, and an expiry, a renewal window or a grant's five
minutes are checked without waiting for them. Processes the tests start keep the system clock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Clock", "FrozenClock", "SystemClock", "frozen", "now"]


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock that stands still until told to move."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a clock tells aware UTC time")
        self._at = at
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._at

    def advance(self, by: dt.timedelta) -> None:
        with self._lock:
            self._at += by


_current: Clock = SystemClock()


def now() -> dt.datetime:
    """The current time of the clock in force (the system's, unless a test froze it)."""
    return _current.now()


@contextmanager
def frozen(at: dt.datetime | None = None) -> Iterator[FrozenClock]:
    """For the ``with`` block, this process's time is a :class:`FrozenClock` (from ``at``, default now)."""
    global _current
    previous = _current
    clock = FrozenClock(at or previous.now())
    _current = clock
    try:
        yield clock
    finally:
        _current = previous
