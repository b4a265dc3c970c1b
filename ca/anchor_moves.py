"""The audit anchor's moves: one mover thread per process and token, at most one write per interval.

Each move of the anchor (see :mod:`ca.audit_anchor`) rewrites a SoftHSM2 object in place, so it holds the
token store exclusively: it waits until every PKCS#11 call of every process has finished and holds new
ones back meanwhile. Made once per audited commit, with the committing request waiting for it, those
moves set the pace of every signer under load: with 8 CSC clients on 2 cores the store was held
exclusively for close to half of each second, and a commit's own move was most of its wait.

So a commit only hands its target to the process's mover and returns. The mover writes the highest target
it holds (a move to entry N vouches for every entry before it), then lets ``MOVE_INTERVAL`` pass before its
next write: however many commits a second, a process takes the store exclusively at most
``1 / MOVE_INTERVAL`` times a second, and a lone commit is anchored at once. A write that fails (an HSM
outage) is logged; its target stays with the mover, which tries again after ``RETRY_PAUSE``.

What that costs: an entry is vouched for by the anchor up to ``MOVE_INTERVAL`` plus one write after its
commit, not before its request returns; a cut of exactly the entries of that last moment is not seen
(before, it was the last millisecond). :func:`settle` waits until every target handed over in this
process is written: `audit verify` and the restore ceremony call it first, and every process calls it
at exit, so a command-line action is anchored when its process ends.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable

from ca.hsm import Token

__all__ = ["MOVE_INTERVAL", "Position", "hand_over", "settle"]

log = logging.getLogger("govsign.audit")
Position = tuple[int, int]  # (epoch, entry): the order in which the anchor only ever moves forward
Revise = Callable[[str | None], str | None]

MOVE_INTERVAL = 0.05  # seconds between two writes of one process: at most 20 exclusive holds a second
RETRY_PAUSE = 1.0  # after a failed write
SETTLE_AT_EXIT_SECONDS = 10.0
_NOWHERE: Position = (-1, -1)


class _Mover:
    """The thread that writes one token's anchor for this process, and what it was handed."""

    def __init__(self, token: Token, application: str) -> None:
        self.token, self.application = token, application
        self.condition = threading.Condition()
        self.pending: tuple[Position, Revise] | None = None
        self.handed = _NOWHERE  # the highest target handed over
        self.done = _NOWHERE  # the highest target written (or found already passed)
        self.thread = threading.Thread(target=self._run, name=f"anchor-mover-{token.label}", daemon=True)
        self.thread.start()

    def hand_over(self, position: Position, revise: Revise) -> None:
        with self.condition:
            if self.pending is None or position > self.pending[0]:
                self.pending = (position, revise)
            self.handed = max(self.handed, position)
            self.condition.notify_all()

    def settle(self, timeout: float) -> bool:
        with self.condition:
            return self.condition.wait_for(lambda: self.done >= self.handed, timeout)

    def _run(self) -> None:
        while True:
            with self.condition:
                self.condition.wait_for(lambda: self.pending is not None)
                assert self.pending is not None
                (target, revise), self.pending = self.pending, None
            try:
                self.token.revise_tagged_text(self.application, revise)
            except Exception as error:  # committed already: the anchor catches up on the next write
                # Not only HsmError: the one mover of the process must outlive any failure (the token
                # store's lock file not opened, say), or no later commit of the process is ever anchored.
                log.error("audit anchor not moved to entry %s (%s); trying again", target[1], error)
                self.hand_over(target, revise)
                time.sleep(RETRY_PAUSE)
                continue
            with self.condition:
                self.done = max(self.done, target)
                self.condition.notify_all()
            time.sleep(MOVE_INTERVAL)


_movers: dict[tuple[int, str], _Mover] = {}
_movers_lock = threading.Lock()


def hand_over(token: Token, application: str, position: Position, revise: Revise) -> None:
    """Have the anchor in ``token`` moved to at least ``position`` soon (``revise`` writes that move over
    what the token holds); returns at once."""
    key = (id(token), application)
    with _movers_lock:
        mover = _movers.get(key)
        if mover is None:
            mover = _movers[key] = _Mover(token, application)
    mover.hand_over(position, revise)


def settle(timeout: float = SETTLE_AT_EXIT_SECONDS) -> bool:
    """Wait until every move handed over in this process so far is written; False if one is still
    outstanding after ``timeout`` seconds (the HSM failing)."""
    deadline = time.monotonic() + timeout
    with _movers_lock:
        movers = list(_movers.values())
    return all(mover.settle(max(0.0, deadline - time.monotonic())) for mover in movers)


@atexit.register
def _settle_at_exit() -> None:
    if not settle():
        log.error("audit anchor: a move was still outstanding at exit; the next audited commit makes it")
