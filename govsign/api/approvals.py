"""`/api/v1/approvals`: dual control over HTTP. Requests wait here; other administrators vote on them.

Administrators of any role see the requests and policies; ``ra_officer`` and ``ca_admin`` vote on the
actions their role may approve (trust anchors, the root CRL, policy changes: ``ca_admin`` only; checked by
:func:`govsign.access.approvals.decide` for every face); ``ca_admin`` sets the policies, and lowering one in force
answers 202 like any held action.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from ca.authority import Authority
from govsign.access.administrators import Role
from govsign.access.approval_policies import policies, set_policy
from govsign.access.approvals import ACTIONS, decide, list_requests, view
from govsign.config import runtime
from govsign.config.settings import Settings
from govsign.http.access import Caller, require
from govsign.http.deps import AuthorityDep, SettingsDep

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])
ApprovalId = Annotated[str, Path(pattern="^[0-9a-f]{16}$", description="the id a held action answered with")]


class Held(BaseModel):
    """A held action: nothing was done yet; other people vote on ``approval_id``."""

    detail: str
    approval_id: str
    state: str = Field(description="pending")
    required: int = Field(description="approvals the request needs")


class Policy(BaseModel):
    required: int = Field(ge=0, le=10, description="approvals needed; 0 switches dual control off")
    valid_hours: int = Field(24, ge=1, le=720, description="hours a request stays open")


@router.get("")
def pending(
    authority: AuthorityDep, _: Annotated[Caller, Depends(require(*Role))], every: bool = False
) -> list[dict[str, Any]]:
    """Requests waiting for approval (``every=true``: recent finished ones too)."""
    requests = list_requests(authority, state=None if every else "pending")
    return [item.to_json() for item in requests]


@router.get("/policies")
def show_policies(authority: AuthorityDep, _: Annotated[Caller, Depends(require(*Role))]) -> dict[str, Any]:
    """Every action dual control can hold: what it is, approvals needed, hours open."""
    return {
        action: {"description": ACTIONS[action], "required": required, "valid_hours": hours}
        for action, (required, hours) in policies(authority).items()
    }


@router.put("/policies/{action}", responses={202: {"model": Held, "description": "a lowering waits"}})
def change_policy(
    authority: AuthorityDep,
    action: str,
    body: Policy,
    caller: Annotated[Caller, Depends(require(Role.CA_ADMIN))],
) -> dict[str, Any]:
    """Set how many approvals ``action`` needs (``ca_admin``; audited as a configuration change). Raising
    applies at once; lowering a policy in force (fewer approvals, fewer hours, 0) answers 202 and waits for
    the approvals the current policy needs, from other ca_admins."""
    set_policy(authority, action, body.required, body.valid_hours, actor=caller.actor)
    return {"action": action, "required": body.required, "valid_hours": body.valid_hours}


@router.get("/{approval_id}")
def show(
    authority: AuthorityDep, approval_id: ApprovalId, _: Annotated[Caller, Depends(require(*Role))]
) -> dict[str, Any]:
    return view(authority, approval_id).to_json()


def _vote(
    authority: Authority, settings: Settings, approval_id: str, caller: Caller, approve: bool
) -> dict[str, Any]:
    executors = runtime.approval_executors(settings)
    return decide(
        authority, approval_id, approver=caller.actor, approve=approve, executors=executors
    ).to_json()


@router.post("/{approval_id}/approve")
def approve(
    authority: AuthorityDep,
    settings: SettingsDep,
    approval_id: ApprovalId,
    caller: Annotated[Caller, Depends(require(Role.RA_OFFICER, Role.CA_ADMIN))],
) -> dict[str, Any]:
    """Approve; the approval that completes the count runs the action, once."""
    return _vote(authority, settings, approval_id, caller, approve=True)


@router.post("/{approval_id}/reject")
def reject(
    authority: AuthorityDep,
    settings: SettingsDep,
    approval_id: ApprovalId,
    caller: Annotated[Caller, Depends(require(Role.RA_OFFICER, Role.CA_ADMIN))],
) -> dict[str, Any]:
    """Reject: one rejection ends the request."""
    return _vote(authority, settings, approval_id, caller, approve=False)
