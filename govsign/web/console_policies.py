"""The console's approval policies: how many approvals each held action needs, and for how long.

Every administrator reads them (as `GET /api/v1/approvals/policies` allows); a ``ca_admin`` sets one
through :func:`govsign.access.approval_policies.set_policy`, the function `govsign approvals policy` and
the API call: raising applies at once, lowering a policy in force is itself held (202, with the request's
id) until as many other ca_admins approve on the approvals page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from govsign.access.approval_policies import policies, set_policy
from govsign.access.approvals import list_requests
from govsign.access.console_auth import ConsoleUser
from govsign.http.deps import AuthorityDep
from govsign.web.console import ADMINISTRATORS, CA_ADMINS, PREFIX, console_text, form_of, signed_in
from govsign.web.console_display import notice, page

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/policies", response_class=HTMLResponse)
def policies_page(
    request: Request,
    authority: AuthorityDep,
    user: Annotated[ConsoleUser, Depends(signed_in(ADMINISTRATORS))],
) -> Response:
    rows = policies(authority)
    return page(request, "console_policies.html", user, rows=rows, pending=len(list_requests(authority)))


@router.post("/policies/{action}", response_class=HTMLResponse)
def change_policy(
    request: Request,
    authority: AuthorityDep,
    action: str,
    user: Annotated[ConsoleUser, Depends(form_of(CA_ADMINS))],
    required: Annotated[int, Form(ge=0, le=10)],
    valid_hours: Annotated[int, Form(ge=1, le=720)] = 24,
) -> Response:
    set_policy(authority, action, required, valid_hours, actor=user.actor)
    message = f"{console_text(request, 'policy_saved')}: {action} — {required}, {valid_hours} h"
    return notice(request, user, message, back="policies")
