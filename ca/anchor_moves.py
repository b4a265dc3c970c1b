"""The audit anchor's moves, made together by the threads of a process that commit at the same time.

Each move of the anchor (see :mod:`ca.audit_anchor`) takes the token store's exclusive lock, which waits
until every PKCS#11 call of every process has finished and holds new ones back meanwhile. Made once per
audited commit, those moves set the pace of every signer under load (a CSC signHash, a batch worker). A
database does the same with its log and solves it the same way, by group commit:

* a thread whose commit must move the anchor adds its target to the process's pending one (the highest
  wins: a move to entry N vouches for every entry before it);
* if no thread of the process is moving the anchor, it moves it itself, to the highest pending target;
* otherwise it waits until a move has covered its target, or until the mover is done and it may move
  next (its own target, and everyone's who came meanwhile).

So every thread still returns only once its entries are anchored, as before, but N threads committing
together cost one or two exclusive locks instead of N. A move that fails (an HSM outage) is logged by the
caller; its target goes back to the pending one, for the next thread that moves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ca.hsm import Token

__all__ = ["Position", "move_together"]

Position = tuple[int, int]  # (epoch, entry): the order in which the anchor only ever moves forward
Revise = Callable[[str | None], str | None]

_NOWHERE: Position = (-1, -1)
_condition = threading.Condition()
_pending: dict[int, tuple[Position, Revise]] = {}
_covered: dict[int, Position] = {}
_moving: set[int] = set()


def move_together(token: Token, application: str, position: Position, revise: Revise) -> None:
    """Have the anchor in ``token`` moved to at least ``position`` (``revise`` writes that move over
    what the token holds), by this thread or by another of the process; return once it has been."""
    key = id(token)
    with _condition:
        waiting = _pending.get(key)
        if waiting is None or position > waiting[0]:
            _pending[key] = (position, revise)
        while _covered.get(key, _NOWHERE) < position:
            if key not in _moving:
                break
            _condition.wait()
        else:
            return  # another thread's move carried ours
        _moving.add(key)
        target, write = _pending.pop(key)
    moved = False
    try:
        token.revise_tagged_text(application, write)
        moved = True
    finally:
        with _condition:
            _moving.discard(key)
            if moved:
                _covered[key] = max(_covered.get(key, _NOWHERE), target)
            else:
                waiting = _pending.get(key)
                if waiting is None or target > waiting[0]:
                    _pending[key] = (target, write)
            _condition.notify_all()
