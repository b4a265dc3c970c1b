"""What the CA tells an operator's monitoring, without knowing which monitoring it is.

The CA counts nothing itself: the face that serves ``/metrics`` installs an :class:`HsmObserver` (the
Prometheus one lives in :mod:`govsign.http.metrics`), so ``ca`` stays free of HTTP and of any metrics
library, and a CLI command that installs none pays one attribute read per HSM call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["HsmObserver", "hsm_operation", "observe_hsm_with"]


class HsmObserver(Protocol):
    """Told of every HSM operation once it ends: its name, how long it took, and whether it failed."""

    def __call__(self, operation: str, seconds: float, failed: bool) -> None: ...


_observer: HsmObserver | None = None


def observe_hsm_with(observer: HsmObserver | None) -> None:
    """Report every HSM operation of this process to ``observer`` from now on (None: to nobody)."""
    global _observer
    _observer = observer


@contextmanager
def hsm_operation(operation: str) -> Iterator[None]:
    """Time the block as one HSM ``operation``; a block that raises counts as failed (retries included)."""
    observer = _observer
    if observer is None:
        yield
        return
    started = time.perf_counter()
    failed = True
    try:
        yield
        failed = False
    finally:
        observer(operation, time.perf_counter() - started, failed)
