"""Instants typed by people (CLI options): ISO 8601 with an explicit zone, so that nobody's "9 o'clock"
is read in the server's zone by mistake."""

from __future__ import annotations

import datetime as dt

from ca.errors import InvalidRequest

__all__ = ["parse_instant"]


def parse_instant(text: str) -> dt.datetime:
    """``text`` as an aware UTC datetime; a missing zone is refused, not guessed."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{text!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise InvalidRequest(f"{text!r} has no time zone; add +07:00 or Z")
    return moment.astimezone(dt.UTC)
