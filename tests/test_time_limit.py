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
