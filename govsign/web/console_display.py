"""How the console's management pages show times and names to people (Vietnamese first, English too).

Times are stored in UTC and shown as the public pages show them (:func:`govsign.web.presentation.people_time`);
enum values (statuses, profiles, key states, audit actions) are looked up in the page's words and shown as
they are when the catalogue has no word for them. :func:`page` renders a template with both helpers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from ca.errors import InvalidRequest
from govsign.access.console_auth import ConsoleUser
from govsign.web.console import language, render
from govsign.web.presentation import people_time
from govsign.web.texts import CONSOLE_TEXTS
from signing.validation.report import VIETNAM_TIME

__all__ = ["notice", "page", "parse_local_time"]


def parse_local_time(value: str) -> dt.datetime | None:
    """A time typed in a form (``datetime-local`` or a date) as Vietnam time, in UTC; None when empty."""
    value = value.strip()
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{value!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VIETNAM_TIME)
    return moment.astimezone(dt.UTC)


def page(
    request: Request, template: str, user: ConsoleUser, status: int = 200, **values: Any
) -> HTMLResponse:
    """Render a management page; templates get ``when(moment)`` and ``word(prefix, value)``."""
    lang = language(request)
    words = CONSOLE_TEXTS[lang]

    def when(moment: dt.datetime | None) -> str:
        return people_time(moment, lang)

    def word(prefix: str, value: object) -> str:
        text = str(value)
        return words.get(f"{prefix}_{text}", text)

    return render(request, template, user=user, status=status, when=when, word=word, **values)


def notice(
    request: Request, user: ConsoleUser, message: str, *, back: str, secret: str | None = None
) -> HTMLResponse:
    """What a management form did, with a way back to its page (``back``) and, once, a ``secret`` such as
    a new API token."""
    return page(request, "console_notice.html", user, message=message, secret=secret, back=back)
