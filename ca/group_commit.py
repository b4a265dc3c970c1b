"""Many threads' small audited transactions committed as one: a database's group commit, in the process.

Every audited action appends to one hash chain, so its transaction holds the chain's head (FOR UPDATE on
PostgreSQL, the writers' turn on SQLite) from its first append to its COMMIT, and no other audited action
anywhere can run meanwhile. For a CSC signHash that held section is most of the request's database work
(BEGIN, the grant, the entry, the head's HSM HMAC, the anchor check, COMMIT), and 8 clients queue on it.

A :class:`GroupCommit` lets the threads of a process that arrive together share one such section: the
first thread to find nobody committing becomes the leader, takes every job waiting (its own included),
and runs them in one transaction, each in a SAVEPOINT of its own, then commits once; the others wait for
their job's outcome. A job that raises rolls back its savepoint only and gets its own exception back;
every other job still commits. A COMMIT that fails fails every job that had succeeded, with its error.
So each job keeps the all-or-nothing of a transaction of its own (its writes and its audit entry commit
together or not at all), while BEGIN, COMMIT, the head's HMAC (:func:`ca.audit.append` makes it once per
transaction) and the anchor's check are paid once per group instead of once per job.

One transaction holding several jobs' row locks must take them in one order that every other transaction
keeps too, or two of them can each wait for the other (PostgreSQL then kills one). Jobs that lock a row
of their own and then append to the audit chain (a claim locks its credential, as authorize and destroy
do) would, run one after the other, hold the head while the next job waits for its row: ``lock_first``
takes every job's row up front, in a fixed order, before any job runs.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from sqlalchemy.orm import Session

from ca.interruption import uninterrupted
from ca.store import Database

__all__ = ["GroupCommit"]

Job = TypeVar("Job")
Outcome = TypeVar("Outcome")


@dataclass
class _Ticket(Generic[Job, Outcome]):
    job: Job
    # The caller's context (its request's id, which the job's audit entry names), made in its own thread:
    # the leader runs each job in its caller's context, not in the leader's.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    outcome: Outcome | None = None
    error: Exception | None = None
    done: bool = field(default=False)

    def result(self) -> Outcome:
        if self.error is not None:
            raise self.error
        assert self.done  # the group's commit set the outcome
        return cast(Outcome, self.outcome)


class GroupCommit(Generic[Job, Outcome]):
    """Runs ``work(session, job)`` for the jobs of concurrent threads, several per transaction."""

    def __init__(
        self,
        database: Database,
        work: Callable[[Session, Job], Outcome],
        *,
        lock_first: Callable[[Session, Sequence[Job]], None] | None = None,
    ) -> None:
        self.database = database
        self.work = work
        self.lock_first = lock_first
        self._condition = threading.Condition()
        self._waiting: list[_Ticket[Job, Outcome]] = []
        self._leading = False

    def run(self, job: Job) -> Outcome:
        """``work(session, job)``'s outcome once committed, or the exception it (or the COMMIT) raised.

        A stop from another thread (a document's time limit, :mod:`ca.interruption`) waits until the job
        is settled: cut while waiting, the job could still be committed by a later leader with nobody to
        use its outcome; cut between taking the lead and its ``try``, the process's group would stay led
        by nobody and every later claim would wait for ever."""
        with uninterrupted():
            return self._run(job)

    def _run(self, job: Job) -> Outcome:
        ticket: _Ticket[Job, Outcome] = _Ticket(job)
        with self._condition:
            self._waiting.append(ticket)
            while self._leading and not ticket.done:
                self._condition.wait()
            if ticket.done:
                return ticket.result()
            self._leading = True
            group, self._waiting = self._waiting, []
        try:
            self._commit(group)
        finally:
            with self._condition:
                self._leading = False
                self._condition.notify_all()
        return ticket.result()

    def _commit(self, group: list[_Ticket[Job, Outcome]]) -> None:
        try:
            with self.database.transaction() as session:
                if self.lock_first is not None:
                    self.lock_first(session, [ticket.job for ticket in group])
                for ticket in group:
                    try:
                        with session.begin_nested():
                            ticket.outcome = ticket.context.run(self.work, session, ticket.job)
                    except Exception as error:  # this job's refusal: its savepoint is rolled back
                        ticket.error = error
        except Exception as error:  # the COMMIT (or the transaction) failed: nothing of the group stands
            for ticket in group:
                if ticket.error is None:
                    ticket.error, ticket.outcome = error, None
        finally:
            for ticket in group:
                ticket.done = True
