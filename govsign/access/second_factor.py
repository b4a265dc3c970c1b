"""The holder's TOTP code as a second factor of every activation (API, batches, CSC), where enrolled.

An account with a console login has a TOTP secret (govsign/access/console_auth.py); for such a holder a PIN
alone does not authorise signatures, the current code must come with it (CSC's ``OTP``). The code is
checked with the console's own check, so the same one-step drift applies and a code is accepted once,
whichever face spent it. Wrong codes count towards the login's lock exactly as wrong console codes do
(five lock the second factor for 15 minutes, for the console and here alike), so the 10^6 codes cannot be
tried through this API without limit. The password is not involved: this is not a console sign-in, and
no session is made. Every refusal is audited with the account as actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.store import utc_now
from govsign.access.console_auth import LOCK_TIME, MAX_FAILURES, ConsoleLogin, _valid_step
from govsign.access.errors import AccessError, NotAuthenticated, NotAuthorised

if TYPE_CHECKING:  # accounts call this module; it needs an account's id only
    from govsign.access.accounts import Account

__all__ = ["SecondFactorLocked", "SecondFactorMissing", "WrongSecondFactor", "check_otp", "has_second_factor"]


class SecondFactorMissing(NotAuthenticated):
    """No code where the holder has a second factor (401; not counted)."""


class WrongSecondFactor(NotAuthorised):
    """A wrong or replayed code, counted towards the second factor's lock."""


class SecondFactorLocked(NotAuthorised):
    """Five wrong codes: the second factor is locked for 15 minutes."""


def _login(session: Session, account: Account, *, lock: bool = False) -> ConsoleLogin | None:
    query = select(ConsoleLogin).where(
        ConsoleLogin.subject_kind == "account", ConsoleLogin.subject_id == account.id
    )
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def has_second_factor(authority: Authority, account: Account) -> bool:
    with authority.database.transaction() as session:
        return _login(session, account) is not None


def check_otp(authority: Authority, account: Account, otp: str | None, *, actor: str) -> None:
    """Accept ``otp`` for a holder with a TOTP second factor (spending its time step); raise otherwise.
    Holders without one need none, and whatever they send is ignored."""
    refusal: AccessError | None = None
    with authority.database.transaction() as session:
        login = _login(session, account, lock=True)  # two requests cannot both spend one code
        if login is None:
            return
        now = utc_now()
        if not otp:  # forgotten, not guessed: not counted
            raise SecondFactorMissing(
                "this holder signs with a second factor: give the current code of your authenticator "
                "(X-Activation-OTP, or the CSC OTP parameter); nothing was counted"
            )
        if login.locked_at is not None and now - login.locked_at < LOCK_TIME:
            refusal = SecondFactorLocked("too many wrong codes: your second factor is locked for 15 minutes")
        elif (step := _valid_step(authority, login, otp, now)) is not None:
            login.last_totp_step = step
        else:
            login.failures = 1 if login.locked_at is not None else login.failures + 1
            login.locked_at = now if login.failures >= MAX_FAILURES else None
            left = MAX_FAILURES - login.failures
            refusal = (
                SecondFactorLocked(
                    "wrong or already used code; your second factor is now locked for 15 minutes"
                )
                if left <= 0
                else WrongSecondFactor(
                    f"wrong or already used code ({left} attempts left before it locks for 15 minutes)"
                )
            )
        if refusal is not None:
            details = {"reason": str(refusal), "login": login.id}
            event = AuditEvent(actor, "account.second-factor", f"account:{account.id}", "refused", details)
            append(session, authority.token, event)
    if refusal is not None:
        raise refusal
