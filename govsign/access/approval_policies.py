"""Approval policies: how many approvals each held action needs, and how long its requests stay open.

Dual control must not be switched off by the one person it is there to check. So a change that loosens
a policy in force (fewer approvals, a shorter window, or 0 / off) is itself a held request: it needs the
approvals the current policy asks for, from ca_admins other than the requester, within the current
window, and :func:`apply_lowering` applies it once when the last approval arrives. A change that
tightens a policy (or sets one while it is off) applies at once. Every change is audited as
``config.approval_policy``; the held ones also as ``approval.request``/``approve``/``execute``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.errors import InvalidRequest, StateConflict
from ca.store import utc_now
from govsign.access.administrators import Role, administrator_of
from govsign.access.approval_payloads import POLICY_CHANGE, PolicyChangePayload, PolicyOutcome
from govsign.access.approvals import ACTIONS, DESCRIPTIONS, ApprovalPolicy, hold
from govsign.access.errors import NotAuthorised, PendingApproval

__all__ = ["apply_lowering", "policies", "set_policy"]

UNSET = (0, 24)  # an action without a policy row: no approvals needed (a request would stay open 24 h)


def policies(authority: Authority) -> dict[str, tuple[int, int]]:
    """action -> (approvals needed, hours open), every action listed (0 approvals when unset)."""
    with authority.database.transaction() as session:
        rows = {
            p.action: (p.required, p.valid_hours) for p in session.execute(select(ApprovalPolicy)).scalars()
        }
    return {action: rows.get(action, UNSET) for action in ACTIONS}


def set_policy(authority: Authority, action: str, required: int, valid_hours: int, *, actor: str) -> None:
    """Set how many approvals ``action`` needs (0: none) and how long a request stays open. Tightening
    applies at once; loosening a policy in force raises :class:`PendingApproval` (a ca_admin's request,
    approved by as many other ca_admins as the current policy needs)."""
    if action not in ACTIONS:
        raise InvalidRequest(f"unknown action {action!r}; one of: {', '.join(ACTIONS)}")
    if not 0 <= required <= 10 or not 1 <= valid_hours <= 24 * 30:
        raise InvalidRequest("approvals needed: 0 to 10; hours a request stays open: 1 to 720")
    with authority.database.transaction() as session:
        policy = session.get(ApprovalPolicy, action, with_for_update=True)
        if policy is None or policy.required == 0 or not _loosens(policy, required, valid_hours):
            _write(session, authority, action, required, valid_hours, actor=actor)
            return
        requester = administrator_of(session, actor)
        if requester is None or requester.role != Role.CA_ADMIN:
            raise NotAuthorised(
                f"loosening the policy in force for {action} is a ca_admin's request: map your OS user to "
                "your administrator record (`govsign admin create ... --os-user NAME`) or use the API "
                "(chỉ ca_admin được đề nghị nới chính sách phê duyệt)"
            )
        payload = PolicyChangePayload(
            action=action,
            required=required,
            valid_hours=valid_hours,
            previous=(policy.required, policy.valid_hours),
        )
        summary = (
            f"loosen {action}: {policy.required} approval(s), {policy.valid_hours} h "
            f"-> {required} approval(s), {valid_hours} h"
        )
        pending = hold(session, authority, POLICY_CHANGE, payload, summary, policy, actor=actor)
    raise PendingApproval(pending.id, POLICY_CHANGE, pending.required, DESCRIPTIONS[POLICY_CHANGE])


def apply_lowering(authority: Authority, payload: PolicyChangePayload, actor: str) -> PolicyOutcome:
    """The executor of an approved loosening: applied only if the policy is still the one the approvers
    saw (a policy raised meanwhile is not lowered by fewer votes than it now needs)."""
    action, required, valid_hours = payload.action, payload.required, payload.valid_hours
    with authority.database.transaction() as session:
        policy = session.get(ApprovalPolicy, action, with_for_update=True)
        current = (policy.required, policy.valid_hours) if policy is not None else UNSET
        if current != payload.previous:
            raise StateConflict(
                f"the policy of {action} changed since this request ({current[0]} approval(s), "
                f"{current[1]} h now); request the change again"
            )
        _write(session, authority, action, required, valid_hours, actor=actor)
    return PolicyOutcome(action=action, required=required, valid_hours=valid_hours)


def _loosens(policy: ApprovalPolicy, required: int, valid_hours: int) -> bool:
    return required < policy.required or valid_hours < policy.valid_hours


def _write(
    session: Session, authority: Authority, action: str, required: int, valid_hours: int, *, actor: str
) -> None:
    policy = session.get(ApprovalPolicy, action, with_for_update=True)
    if policy is None:
        policy = ApprovalPolicy(action=action)
        session.add(policy)
    policy.required, policy.valid_hours, policy.updated_by = required, valid_hours, actor[:128]
    policy.updated_at = utc_now()
    details = {"action": action, "required": required, "valid_hours": valid_hours}
    append(session, authority.token, AuditEvent(actor, "config.approval_policy", action, details=details))
