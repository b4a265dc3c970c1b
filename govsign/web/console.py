"""`/console`: the web console for administrators, officials and agency clerks: signing in and out here.

Server-rendered (Jinja2) with one small script (`/static/console.js`: live checks on the issue form, the
box dragged over a page preview). Sign-in is a password and a TOTP code (:mod:`govsign.access.console_auth`);
the session cookie is HttpOnly and SameSite=Strict, every form carries the session's CSRF token, and
each page declares the roles it admits (:func:`signed_in`, :func:`form_of`). Errors are answered by
:func:`error_page`, which the application calls for every domain error under /console.

Administrators search, issue and revoke certificates and vote on approvals; officials and clerks upload
a PDF, see page 1, drag the signature's box, enter their PIN and download the signed document (or sign
several at once as a batch): :mod:`govsign.web.console_officers` and :mod:`govsign.web.console_signing`,
which build their pages with this module's helpers. The pages are not part of /openapi.json.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ca.rate_limit import RateLimiter
from govsign.access.accounts import (
    AccountKind,
)
from govsign.access.administrators import Role
from govsign.access.console_auth import ConsoleUser, sign_in, sign_out, user_for_session
from govsign.access.errors import NotAuthenticated, NotAuthorised, PendingApproval
from govsign.config.settings import Settings
from govsign.errors import DOMAIN_ERRORS, http_status
from govsign.http.deps import AuthorityDep, ClientAddress, SettingsDep
from govsign.web.presentation import error_text, page_templates
from govsign.web.texts import CONSOLE_TEXTS

PREFIX = "/console"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
COOKIE = "govsign_console"
_templates = page_templates()
Grants = frozenset[Role | AccountKind]
ADMINISTRATORS: Grants = frozenset(Role)
SIGNERS: Grants = frozenset(AccountKind)
OFFICERS: Grants = frozenset({Role.RA_OFFICER})
VOTERS: Grants = frozenset({Role.RA_OFFICER, Role.CA_ADMIN})
CA_ADMINS: Grants = frozenset({Role.CA_ADMIN})
AUDITORS: Grants = frozenset({Role.AUDITOR})
_login_attempts = RateLimiter(rate=0.2, burst=20)  # per client address: guessing stays slow


def language(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "vi"


def render(
    request: Request, template: str, *, user: ConsoleUser | None = None, status: int = 200, **values: Any
) -> HTMLResponse:
    lang = language(request)
    html = _templates.get_template(template).render(lang=lang, t=CONSOLE_TEXTS[lang], user=user, **values)
    return HTMLResponse(html, status_code=status)


def console_text(request: Request, key: str) -> str:
    return CONSOLE_TEXTS[language(request)][key]


def signed_in(allowed: Grants) -> Callable[..., ConsoleUser]:
    """A dependency: the signed-in user, if their role or account kind is one of ``allowed``."""

    def dependency(request: Request, authority: AuthorityDep) -> ConsoleUser:
        user = user_for_session(authority, request.cookies.get(COOKIE))
        if user.grant not in allowed:
            raise NotAuthorised("this page is not for your role")
        return user

    return dependency


def form_of(allowed: Grants) -> Callable[..., ConsoleUser]:
    """A dependency for form posts: :func:`signed_in`, and the form's CSRF token is the session's."""
    check = signed_in(allowed)

    def dependency(
        request: Request, authority: AuthorityDep, csrf: Annotated[str | None, Form()] = None
    ) -> ConsoleUser:
        user = check(request, authority)
        if not csrf or not secrets.compare_digest(csrf.encode(), user.csrf.encode()):
            raise NotAuthorised("the form is stale or came from elsewhere (CSRF token); reload the page")
        return user

    return dependency


def error_page(request: Request, error: Exception) -> Response:
    """Not signed in: to the sign-in page; anything else (a held action too): the message, with its status."""
    if isinstance(error, NotAuthenticated):
        return RedirectResponse(f"{PREFIX}/login?lang={language(request)}", status_code=303)
    message = error_text(error, language(request))
    if isinstance(error, PendingApproval) and error.setup_code is not None:
        message += f". {console_text(request, 'setup_code')}: {error.setup_code}"
    status = http_status(error)
    return render(request, "console_message.html", message=message, status=status, failed=status >= 400)


def message_page(request: Request, user: ConsoleUser, message: str, status: int = 200) -> HTMLResponse:
    return render(request, "console_message.html", user=user, message=message, status=status)


# -- signing in and out ---------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return render(request, "console_login.html")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    authority: AuthorityDep,
    settings: SettingsDep,
    client: ClientAddress,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    if not _login_attempts.allow(client):
        return render(request, "console_login.html", error=console_text(request, "slow_down"), status=429)
    try:
        token, _ = sign_in(authority, username, password, code.strip(), client=client)
    except DOMAIN_ERRORS as error:
        refusal = console_text(request, "login_refused") if isinstance(error, NotAuthenticated) else None
        message = refusal or error_text(error, language(request))
        return render(request, "console_login.html", error=message, status=http_status(error))
    response = RedirectResponse(f"{PREFIX}?lang={language(request)}", status_code=303)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", secure=_secure(request, settings), path=PREFIX
    )
    return response


def _secure(request: Request, settings: Settings) -> bool:
    """Secure cookies when the service is published over https (behind a TLS proxy too) or reached so."""
    return settings.public_url.startswith("https:") or request.url.scheme == "https"


@router.post("/logout")
def logout(
    request: Request,
    authority: AuthorityDep,
    client: ClientAddress,
    _: Annotated[ConsoleUser, Depends(form_of(ADMINISTRATORS | SIGNERS))],
) -> Response:
    sign_out(authority, request.cookies.get(COOKIE), client=client)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response
