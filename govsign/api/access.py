"""Who may call a route, declared once per route as a FastAPI dependency.

A route is public (no dependency), or takes ``caller: Annotated[Caller, Depends(require(...))]`` naming the
roles and account kinds allowed. The bearer token decides who the caller is: ``gsa_`` tokens belong to
administrators (``ca_admin``, ``ra_officer``, ``auditor``), ``gsk_`` tokens to officials' and clerks' signing
accounts. No token or an unknown one is 401; a known caller outside the route's list is 403, answered
before the request body is even looked at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from ca.audit import AuditEvent, record
from ca.authority import Authority
from govsign.accounts import Account, AccountKind, NotAuthenticated, NotAuthorised, authenticate
from govsign.administrators import TOKEN_PREFIX as ADMIN_TOKEN_PREFIX
from govsign.administrators import Role, administrator_by_token

__all__ = ["Caller", "SigningCaller", "bearer", "require"]

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


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def require(*allowed: Grant) -> Callable[..., Caller]:
    """A dependency admitting callers whose role or account kind is one of ``allowed``."""
    names = " or ".join(grant.value for grant in allowed)

    def dependency(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
        authority: Authority = request.app.state.authority()
        caller: Caller | None = None
        try:
            caller = _identify(authority, bearer(authorization))
            if caller.grant not in allowed:
                raise NotAuthorised(f"this needs {names}; you are {caller.grant.value}")
        except (NotAuthenticated, NotAuthorised) as refusal:
            _audit_refusal(authority, request, caller, refusal)
            raise
        return caller

    return dependency


def _audit_refusal(authority: Authority, request: Request, caller: Caller | None, refusal: Exception) -> None:
    """A refused request, in the audit log with who (if known), what and from where."""
    details = {
        "route": f"{request.method} {request.url.path}"[:200],
        "client": request.client.host if request.client else "unknown",
        "reason": str(refusal)[:200],
    }
    actor = caller.actor if caller else "anonymous"
    record(
        authority.database, authority.token, AuditEvent(actor, "access.refused", "api", "refused", details)
    )


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
