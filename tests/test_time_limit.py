"""The hard time limit per document (signing/time_limit.py): work past it stops with a refusal, work within
it returns its result, and nothing is left pending for the thread afterwards."""

from __future__ import annotations

import threading
import time

import pytest

from signing.errors import DocumentTookTooLong
from signing.time_limit import within_time_limit

pytestmark = pytest.mark.pure


def spin_for_ever() -> None:
    while True:
        try:
            sum(range(1000))
        except Exception:  # a library that swallows every Exception does not swallow the limit
            continue


def test_work_past_the_limit_stops_with_a_refusal_that_names_the_limit() -> None:
    started = time.monotonic()
    with pytest.raises(DocumentTookTooLong, match=r"longer than the limit of 0\.2 s"):
        within_time_limit(0.2, spin_for_ever)
    assert time.monotonic() - started < 2


def test_work_within_the_limit_returns_and_nothing_fires_later() -> None:
    assert within_time_limit(0.2, lambda: 42) == 42
    time.sleep(0.4)  # a late watchdog would raise here, in code that has nothing to do with it
    assert sum(range(10)) == 45


def test_the_limit_works_in_a_server_worker_thread_too() -> None:
    outcome: list[BaseException] = []

    def worker() -> None:
        try:
            within_time_limit(0.1, spin_for_ever)
        except DocumentTookTooLong as refusal:
            outcome.append(refusal)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert not thread.is_alive() and len(outcome) == 1


def test_the_limit_waits_for_a_shielded_section_to_end_and_then_stops_the_work() -> None:
    """A transaction or HSM call (ca.interruption.uninterrupted) is never cut: the stop lands after it."""
    from ca.interruption import uninterrupted

    finished_sections: list[int] = []

    def work() -> None:
        with uninterrupted():
            deadline = time.monotonic() + 0.5  # well past the 0.1 s limit
            while time.monotonic() < deadline:
                sum(range(1000))
            finished_sections.append(1)
        spin_for_ever()

    with pytest.raises(DocumentTookTooLong):
        within_time_limit(0.1, work)
    assert finished_sections == [1]


def test_a_section_begun_after_the_stop_is_refused_before_it_starts() -> None:
    from ca.interruption import uninterrupted

    entered: list[int] = []

    def work() -> None:
        try:
            spin_for_ever()
        finally:  # the stop arrives in the loop; cleanup code that opens a section must not run it
            with uninterrupted():
                entered.append(1)

    with pytest.raises(DocumentTookTooLong):
        within_time_limit(0.1, work)
    assert entered == []
    with uninterrupted():  # and once the limit is over, the thread's sections run again
        entered.append(2)
    assert entered == [2]


def test_every_document_of_a_process_is_watched_by_one_thread_started_once() -> None:
    """Starting a watchdog thread per document cost a batch worker ~5 % of each document's time (a thread
    start waits for the scheduler); one thread watches them all, including documents signed at once."""

    def watchdogs() -> set[int | None]:
        return {thread.ident for thread in threading.enumerate() if thread.name == "document-time-limit"}

    def alongside_another_document() -> set[int | None]:
        found: list[set[int | None]] = []
        other = threading.Thread(target=lambda: found.append(within_time_limit(5, watchdogs)))
        other.start()
        other.join(5)
        return found[0]

    seen = [within_time_limit(5, watchdogs) for _ in range(3)]
    seen.append(within_time_limit(5, alongside_another_document))
    assert len(seen[0]) == 1 and seen == [seen[0]] * 4, seen
