"""Who may call a route, declared once per route as a FastAPI dependency.

A route is public (no dependency), or takes ``caller: Annotated[Caller, Depends(require(...))]`` naming the
roles and account kinds allowed. The bearer token decides who the caller is: ``gsa_`` tokens belong to
administrators (``ca_admin``, ``ra_officer``, ``auditor``), ``gsk_`` tokens to officials' and clerks' signing
accounts. No token or an unknown one is 401; a known caller outside the route's list is 403, answered
before the request body is even looked at.

Refusals are audited (who, if known, which route, from where) without letting anyone grow the audit log
or load the database at will: a client address refused more often than ``GOVSIGN_REFUSED_*`` allows gets
429 before its token is even looked at, and :class:`RefusalLog` writes one entry for the first refusal of
each kind from a client in a window and one with the count of the rest when the window closes.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ca.audit import AuditEvent, record
from ca.authority import Authority
from ca.store import utc_now
from govsign.access.accounts import Account, AccountKind, authenticate
from govsign.access.administrators import TOKEN_PREFIX as ADMIN_TOKEN_PREFIX
from govsign.access.administrators import Role, administrator_by_token
from govsign.access.errors import NotAuthenticated, NotAuthorised
from govsign.http.hardening import ClientLimits

__all__ = ["Caller", "RefusalLog", "SigningCaller", "require"]

Grant = Role | AccountKind


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: an administrator (``role``) or a signing account (``account``)."""

    actor: str  # as the audit log names them
    grant: Grant
    account: Account | None = None

    @property
    def signing_account(self) -> Account:
        """The caller's signing account (routes for officials and clerks only)."""
        if self.account is None:
            raise NotAuthorised("this needs an official's or an agency clerk's signing account")
        return self.account


# Declared once in /openapi.json as the "bearer" security scheme; every route that requires a caller lists it.
# auto_error=False: a missing or non-Bearer header is judged below (401, throttled and audited), not by FastAPI.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="an administrator's API token (gsa_...) or an official's or clerk's signing account's (gsk_...)",
)


def require(*allowed: Grant) -> Callable[..., Caller]:
    """A dependency admitting callers whose role or account kind is one of ``allowed``."""
    names = " or ".join(grant.value for grant in allowed)

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
    ) -> Caller:
        authority: Authority = request.app.state.authority()
        limits: ClientLimits = request.app.state.limits
        refusals: RefusalLog = request.app.state.refusals
        client = request.client.host if request.client else "unknown"
        route = f"{request.method} {request.url.path}"[:200]
        if limits.refused.throttled(client):
            refusals.refuse(authority, Refusal(client, "anonymous", _THROTTLED), route)
            retry = str(math.ceil(1 / limits.refused.rate)) if limits.refused.rate > 0 else "3600"
            raise HTTPException(429, _THROTTLED, headers={"Retry-After": retry})
        caller: Caller | None = None
        try:
            caller = _identify(authority, credentials.credentials.strip() if credentials else None)
            if caller.grant not in allowed:
                raise NotAuthorised(f"this needs {names}; you are {caller.grant.value}")
        except (NotAuthenticated, NotAuthorised) as refusal:
            limits.refused.allow(client)
            actor = caller.actor if caller else "anonymous"
            refusals.refuse(authority, Refusal(client, actor, str(refusal)[:200]), route)
            raise
        return caller

    return dependency


_THROTTLED = "too many refused requests from your address; try again later"


@dataclass(frozen=True)
class Refusal:
    """One kind of refusal: from this client address, to this caller, for this reason."""

    client: str
    actor: str  # as the audit log names them, "anonymous" when unknown
    reason: str


@dataclass
class _Window:
    opened: dt.datetime
    route: str  # the latest refused route
    repeated: int = 0  # refusals after the first, not audited yet


class RefusalLog:
    """Refused API calls in the audit log, at most two entries per kind of refusal and window: the first
    refusal at once, with its route (as every refusal was before), and, when the window of ``seconds``
    closes, one entry with the count of the repeats. :meth:`flush` writes the windows that have closed;
    the server calls it in the background and when it stops."""

    def __init__(self, seconds: float) -> None:
        self.window = dt.timedelta(seconds=seconds)
        self._open: dict[Refusal, _Window] = {}
        self._lock = threading.Lock()

    def refuse(self, authority: Authority, refusal: Refusal, route: str) -> None:
        now = utc_now()
        with self._lock:
            window = self._open.get(refusal)
            if window is not None and now - window.opened < self.window:
                window.repeated += 1
                window.route = route
                return
            self._open[refusal] = _Window(now, route)
        if window is not None:
            _audit(authority, refusal, window, until=now)
        _audit(authority, refusal, _Window(now, route), until=None)

    def flush(self, authority: Authority, *, everything: bool = False) -> None:
        """Audit the repeats of every window that has closed (of every window, when the server stops)."""
        now = utc_now()
        with self._lock:
            closed = {
                refusal: window
                for refusal, window in self._open.items()
                if everything or now - window.opened >= self.window
            }
            for refusal in closed:
                del self._open[refusal]
        for refusal, window in closed.items():
            _audit(authority, refusal, window, until=now)


def _audit(authority: Authority, refusal: Refusal, window: _Window, *, until: dt.datetime | None) -> None:
    """The first refusal of a window (``until`` None), or the count of its repeats (none: no entry)."""
    details: dict[str, str | int] = {
        "route": window.route,
        "client": refusal.client,
        "reason": refusal.reason,
    }
    if until is None:
        details["count"] = 1
    elif window.repeated:
        details.update(count=window.repeated, since=window.opened.isoformat(), until=until.isoformat())
    else:
        return
    event = AuditEvent(refusal.actor, "access.refused", "api", "refused", details)
    record(authority.database, authority.token, event)


def _identify(authority: Authority, token: str | None) -> Caller:
    if not token:
        raise NotAuthenticated("sign in with your API token (Authorization: Bearer ...)")
    if token.startswith(ADMIN_TOKEN_PREFIX):
        administrator = administrator_by_token(authority, token)
        return Caller(f"admin:{administrator.id}:{administrator.name}", Role(administrator.role))
    account = authenticate(authority, token)
    return Caller(f"account:{account.id}:{account.holder}", AccountKind(account.kind), account)


SigningCaller = Annotated[Caller, Depends(require(AccountKind.OFFICIAL, AccountKind.CLERK))]
"""An official or an agency clerk, signing with the certificates bound to their account."""
