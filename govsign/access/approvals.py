"""Dual control with EJBCA's semantics: an action whose policy asks for M approvals waits for them.

A ``ca_admin`` (or the operator on the server) sets, per kind of action, how many approvals it needs and
for how long a request stays open; zero means no dual control (:mod:`govsign.access.approval_policies`: lowering
a policy in force is itself held). A guarded action then becomes a request (HTTP 202 with its id; the CLI
exits 3 with ``pending <id>`` on its last line). Approvers are other administrators whose role the action
admits: nobody approves their own request, nobody votes twice, one rejection rejects, a request past its
expiry does nothing, and the action runs exactly once, when the M-th approval arrives: that vote moves
the request to ``executing`` under the row's lock, the action runs outside the transaction (it opens its
own), and the outcome is recorded. Every step is audited.

One person is one administrator record on every face: requester and voter are stored as ``admin:ID:NAME``
whether they came with an API token, a console session or as a mapped OS user on the CLI
(:func:`govsign.access.administrators.administrator_of`), and an unmapped OS user does not vote.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.errors import CaError, NotFound, StateConflict
from ca.store import Base, UtcDateTime, utc_now
from govsign.access.administrators import (
    CLI_ACTOR_PREFIX,
    Administrator,
    Role,
    actor_of,
    administrator_of,
)
from govsign.access.approval_payloads import PAYLOADS, POLICY_CHANGE, ActionPayload, Executor, MadeKey
from govsign.access.errors import AccessError, NotAuthorised, PendingApproval

__all__ = [
    "ACTIONS",
    "APPROVERS",
    "DESCRIPTIONS",
    "POLICY_CHANGE",
    "ApprovalPolicy",
    "ApprovalRequest",
    "ApprovalVote",
    "Executor",
    "decide",
    "hold",
    "hold_for_approval",
    "list_requests",
]

# The actions dual control can hold, with what an approver is shown and which roles may vote on them.
ACTIONS: dict[str, str] = {
    "certificate.revoke.organisation": "revoke an agency's seal (organisation) certificate",
    "certificate.issue.organisation": "issue an agency's seal (organisation) certificate",
    "certificate.issue.device": "issue a device or service certificate",
    "certificate.change.organisation": "change an agency's seal certificate's information (a new one is issued)",
    "certificate.change.device": "change a device certificate's information (a new one is issued)",
    "trust.add": "trust another CA's root or intermediate for validation",
    "trust.remove": "stop trusting another CA's root or intermediate (its signatures stop validating)",
    "ca.root-crl": "publish the root CA's CRL (a ceremony act with the root token)",
}
# A subscriber's certificate: the registration side votes too. Trust, the root's CRL and lowering a policy
# in force (held under the policy it lowers): ca_admins only.
APPROVERS: dict[str, frozenset[Role]] = {
    action: frozenset(
        {Role.RA_OFFICER, Role.CA_ADMIN} if action.startswith("certificate.") else {Role.CA_ADMIN}
    )
    for action in (*ACTIONS, POLICY_CHANGE)
}
DESCRIPTIONS: dict[str, str] = {
    **ACTIONS,
    POLICY_CHANGE: "lower an approval policy (fewer approvals, a shorter window, or off)",
}
log = logging.getLogger("govsign.access.approvals")


class ApprovalPolicy(Base):
    __tablename__ = "approval_policies"

    action: Mapped[str] = mapped_column(String(64), primary_key=True)
    required: Mapped[int] = mapped_column(Integer)
    valid_hours: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


class ApprovalRequest(Base):
    __tablename__ = "approval_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(String(512))
    payload: Mapped[str] = mapped_column(Text)  # JSON: what the action needs to run
    requested_by: Mapped[str] = mapped_column(String(128))
    required: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(
        String(16), index=True
    )  # pending|executing|executed|failed|rejected|expired
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ApprovalVote(Base):
    __tablename__ = "approval_votes"
    __table_args__ = (UniqueConstraint("request_id", "approver"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("approval_requests.id"))
    approver: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(8))  # approve | reject
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


@dataclass(frozen=True)
class RequestView:
    """An approval request as the faces show it."""

    id: str
    action: str
    summary: str
    requested_by: str
    required: int
    approvals: list[str]
    state: str
    created_at: dt.datetime
    expires_at: dt.datetime
    outcome: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "approval_id": self.id,
            "action": self.action,
            "summary": self.summary,
            "requested_by": self.requested_by,
            "required": self.required,
            "approvals": self.approvals,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "outcome": json.loads(self.outcome)
            if self.outcome and self.outcome.startswith("{")
            else self.outcome,
        }


def hold_for_approval(
    authority: Authority,
    action: str,
    payload: ActionPayload,
    summary: str,
    *,
    actor: str,
) -> None:
    """Return when ``action`` needs no approval (the caller then acts); otherwise store the request with
    ``payload`` (what the action's executor needs, as its model) and raise
    :class:`PendingApproval`."""
    with authority.database.transaction() as session:
        policy = session.get(ApprovalPolicy, action)
        if policy is None or policy.required == 0:
            return
        pending = hold(session, authority, action, payload, summary, policy, actor=actor)
    raise PendingApproval(pending.id, action, pending.required, DESCRIPTIONS[action])


def hold(
    session: Session,
    authority: Authority,
    action: str,
    payload: ActionPayload,
    summary: str,
    policy: ApprovalPolicy,
    *,
    actor: str,
) -> ApprovalRequest:
    """Store (in the caller's transaction) a request for ``action`` under ``policy``'s approvals and hours;
    the requester is recorded as their administrator record when they have one, whichever face they used,
    so the same person cannot approve it from another face. ``payload`` is the action's model
    (:data:`~govsign.access.approval_payloads.PAYLOADS`). The caller raises :class:`PendingApproval`
    once the transaction is committed."""
    stored = PAYLOADS[action].model_validate(payload.model_dump())
    requester = administrator_of(session, actor)
    requested_by = actor_of(requester) if requester is not None else actor[:128]
    now = utc_now()
    pending = ApprovalRequest(
        id=secrets.token_hex(8),
        action=action,
        summary=summary[:512],
        payload=stored.model_dump_json(),
        requested_by=requested_by,
        required=policy.required,
        created_at=now,
        expires_at=now + dt.timedelta(hours=policy.valid_hours),
        state="pending",
    )
    session.add(pending)
    details = {
        "action": action,
        "summary": pending.summary,
        "required": policy.required,
        **_face(actor, requested_by),
    }
    event = AuditEvent(requested_by, "approval.request", f"approval:{pending.id}", details=details)
    append(session, authority.token, event)
    return pending


def decide(
    authority: Authority, approval_id: str, *, approver: str, approve: bool, executors: Mapping[str, Executor]
) -> RequestView:
    """Record ``approver``'s vote (an administrator whose role the action admits, as ``admin:ID:...`` or a
    mapped ``cli:OS_USER``); the M-th approval runs the action, once."""
    run: tuple[str, str, str] | None = None
    refusal: CaError | None = None
    with authority.database.transaction() as session:
        voter = _voter(session, approver)
        face, approver = approver, actor_of(voter)  # one name per person, so the double-vote check holds
        request = session.get(ApprovalRequest, approval_id, with_for_update=True)
        if request is None:
            raise NotFound(f"no approval request {approval_id}")
        if Role(voter.role) not in APPROVERS[request.action]:
            roles = " or ".join(sorted(role.value for role in APPROVERS[request.action]))
            raise NotAuthorised(f"only {roles} vote on '{DESCRIPTIONS[request.action]}'")
        if request.state == "pending" and utc_now() >= request.expires_at:
            request.state, request.finished_at = "expired", utc_now()
            _release_made_key(session, authority, request.payload, approver)
            append(
                session, authority.token, AuditEvent(approver, "approval.expired", f"approval:{approval_id}")
            )
            refusal = StateConflict(
                f"request {approval_id} expired at {request.expires_at:%Y-%m-%d %H:%M} UTC"
            )
        elif request.state != "pending":
            raise StateConflict(f"request {approval_id} is {request.state}; it takes no more votes")
        elif _same_person(session, request.requested_by, voter):
            raise NotAuthorised("nobody approves or rejects their own request")
        elif _voted(session, approval_id, approver):
            raise StateConflict(f"you have already voted on request {approval_id}")
        else:
            session.add(
                ApprovalVote(
                    request_id=approval_id,
                    approver=approver,
                    decision="approve" if approve else "reject",
                )
            )
            session.flush()
            verb = "approval.approve" if approve else "approval.reject"
            append(
                session,
                authority.token,
                AuditEvent(
                    approver,
                    verb,
                    f"approval:{approval_id}",
                    details={"action": request.action, **_face(face, approver)},
                ),
            )
            if not approve:
                request.state, request.finished_at = "rejected", utc_now()
                _release_made_key(session, authority, request.payload, approver)
            elif _approvals(session, approval_id) >= request.required:
                request.state = "executing"  # claimed under the row lock: only this vote runs it
                voters = ", ".join(_approvers(session, approval_id))
                run = (request.action, request.payload, f"{request.requested_by} (approved by {voters})")
    if refusal is not None:
        raise refusal  # the expiry itself is recorded above
    if run is not None:
        _execute(authority, approval_id, run, executors)
    return view(authority, approval_id)


def _release_made_key(session: Session, authority: Authority, payload: str, actor: str) -> None:
    """A held issuance whose key was made at the request (its set-up code went to the requester) and that
    will never be issued: the key is destroyed with the request's end, so no orphan waits for a holder."""
    key_id = MadeKey.model_validate_json(payload).key_id
    if key_id and authority.activation is not None:
        authority.activation.destroy(session, key_id, reason="issuance not approved", actor=actor)


def _execute(
    authority: Authority,
    approval_id: str,
    run: tuple[str, str, str],
    executors: Mapping[str, Executor],
) -> None:
    action, payload, actor = run
    try:
        outcome, state = executors[action].execute(authority, payload, actor), "executed"
    except (CaError, AccessError) as error:
        outcome, state = str(error), "failed"
    except Exception as error:  # recorded as failed rather than left "executing"; the request never reruns
        log.exception("approved action %s (%s) failed", approval_id, action)
        outcome, state = f"unexpected {type(error).__name__}", "failed"
    with authority.database.transaction() as session:
        request = session.get(ApprovalRequest, approval_id, with_for_update=True)
        assert request is not None
        request.state, request.outcome, request.finished_at = state, outcome, utc_now()
        if state == "failed":
            _release_made_key(session, authority, request.payload, actor)
        details = {"action": action, "state": state}
        append(
            session,
            authority.token,
            AuditEvent(actor, "approval.execute", f"approval:{approval_id}", details=details),
        )


def _face(actor: str, person: str) -> dict[str, str]:
    """For the audit log: the face (``cli:OS_USER``) an administrator came through, when it is not how the
    entry names them."""
    return {"as": actor[:128]} if actor != person else {}


def _voter(session: Session, approver: str) -> Administrator:
    """The administrator behind a vote; an OS user without an administrator record does not vote."""
    voter = administrator_of(session, approver)
    if voter is not None:
        return voter
    if approver.startswith(CLI_ACTOR_PREFIX):
        os_user = approver.removeprefix(CLI_ACTOR_PREFIX)
        raise NotAuthorised(
            f"the OS user {os_user} is no administrator, so it does not vote: a ca_admin maps it with "
            f"`govsign admin create --name NAME --role ROLE --os-user {os_user}` "
            f"(người dùng hệ điều hành {os_user} chưa gắn với quản trị viên nào, không được biểu quyết)"
        )
    raise NotAuthorised("only administrators vote on approval requests")


def _same_person(session: Session, requested_by: str, voter: Administrator) -> bool:
    """Whether the voter made the request, under any face (also a ``cli:`` request made before the OS user
    was mapped to them)."""
    requester = administrator_of(session, requested_by)
    return requested_by == actor_of(voter) or (requester is not None and requester.id == voter.id)


def _voted(session: Session, approval_id: str, approver: str) -> bool:
    vote = select(ApprovalVote.id).where(
        ApprovalVote.request_id == approval_id, ApprovalVote.approver == approver
    )
    return session.execute(vote).first() is not None


def _approvals(session: Session, approval_id: str) -> int:
    count = select(func.count()).where(
        ApprovalVote.request_id == approval_id, ApprovalVote.decision == "approve"
    )
    return int(session.execute(count).scalar_one())


def _approvers(session: Session, approval_id: str) -> list[str]:
    votes = (
        select(ApprovalVote.approver)
        .where(ApprovalVote.request_id == approval_id, ApprovalVote.decision == "approve")
        .order_by(ApprovalVote.id)
    )
    return list(session.execute(votes).scalars())


def view(authority: Authority, approval_id: str) -> RequestView:
    with authority.database.transaction() as session:
        request = session.get(ApprovalRequest, approval_id)
        if request is None:
            raise NotFound(f"no approval request {approval_id}")
        return _view(session, request)


def _view(session: Session, request: ApprovalRequest) -> RequestView:
    return RequestView(
        id=request.id,
        action=request.action,
        summary=request.summary,
        requested_by=request.requested_by,
        required=request.required,
        approvals=_approvers(session, request.id),
        state=request.state,
        created_at=request.created_at,
        expires_at=request.expires_at,
        outcome=request.outcome,
    )


def list_requests(authority: Authority, *, state: str | None = "pending") -> list[RequestView]:
    with authority.database.transaction() as session:
        query = select(ApprovalRequest).order_by(ApprovalRequest.created_at.desc()).limit(200)
        if state is not None:
            query = query.where(ApprovalRequest.state == state)
        return [_view(session, request) for request in session.execute(query).scalars()]
