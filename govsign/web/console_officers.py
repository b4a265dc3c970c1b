"""The console's pages for administrators: search, issue and revoke certificates, vote on approvals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import or_, select

from ca.authority import Authority
from ca.errors import InvalidRequest, NotFound
from ca.hsm import KeyAlgorithm
from ca.profiles import CertificateKind
from ca.reasons import CASE_KINDS, reason_for_certificate
from ca.store import CertificateRecord, certificate_by_serial
from govsign.access import controlled_actions
from govsign.access.approvals import ACTIONS, APPROVERS, decide, list_requests, view
from govsign.access.console_auth import ConsoleUser
from govsign.access.errors import NotAuthorised
from govsign.config import runtime
from govsign.http.deps import AuthorityDep, ServicesDep, SettingsDep
from govsign.web.console import (
    ADMINISTRATORS,
    OFFICERS,
    PREFIX,
    SIGNERS,
    VOTERS,
    console_text,
    form_of,
    language,
    message_page,
    render,
    signed_in,
)
from govsign.web.presentation import holder
from govsign.web.terms import term

router = APIRouter(prefix=PREFIX, include_in_schema=False)
REQUEST_FIELDS = {
    CertificateKind.INDIVIDUAL: ("full_name", "personal_id", "email", "organisation", "unit", "province"),
    CertificateKind.ORGANISATION: ("name", "tax_code", "budget_code", "province", "email"),
    CertificateKind.DEVICE: ("name", "version", "organisation", "province"),
}


@router.get("", response_class=HTMLResponse)
def home(
    request: Request,
    authority: AuthorityDep,
    user: Annotated[ConsoleUser, Depends(signed_in(ADMINISTRATORS | SIGNERS))],
) -> Response:
    if user.account_kind is not None:
        return render(request, "console_sign.html", user=user)
    return certificates(request, authority, user)


# -- administrators -------------------------------------------------------------------------------------


@router.get("/certificates", response_class=HTMLResponse)
def certificates(
    request: Request,
    authority: AuthorityDep,
    user: Annotated[ConsoleUser, Depends(signed_in(ADMINISTRATORS))],
    q: str = "",
) -> Response:
    query = select(CertificateRecord).order_by(CertificateRecord.id.desc()).limit(50)
    if q.strip():
        pattern = f"%{q.strip()}%"
        query = query.where(
            or_(CertificateRecord.subject.ilike(pattern), CertificateRecord.serial.ilike(pattern))
        )
    with authority.database.transaction() as session:
        rows = [
            {
                "serial": r.serial,
                "subject": r.subject,
                "profile": r.profile,
                "status": r.status,
                "reason": r.revocation_reason,
                "not_after": r.not_after,
            }
            for r in session.execute(query).scalars()
        ]
    pending = len(list_requests(authority))
    return render(request, "console_certificates.html", user=user, rows=rows, q=q, pending=pending)


@router.get("/issue", response_class=HTMLResponse)
def issue_form(request: Request, user: Annotated[ConsoleUser, Depends(signed_in(OFFICERS))]) -> Response:
    return render(request, "console_issue.html", user=user, fields=REQUEST_FIELDS)


@router.post("/issue", response_class=HTMLResponse)
async def issue(
    request: Request, authority: AuthorityDep, user: Annotated[ConsoleUser, Depends(form_of(OFFICERS))]
) -> Response:
    values = {key: value.strip() for key, value in (await request.form()).items() if isinstance(value, str)}
    # the HSM, the database and pkilint block: off the event loop, which also serves OCSP
    message = await run_in_threadpool(_issue, request, authority, user, values)
    return message_page(request, user, message)


def _issue(request: Request, authority: Authority, user: ConsoleUser, values: dict[str, str]) -> str:
    try:
        kind = CertificateKind(values.get("profile", ""))
    except ValueError:
        raise InvalidRequest("choose a profile: individual, organisation or device") from None
    data = {
        name: values[name]
        for name in (*REQUEST_FIELDS[kind], "requesting_agency", "request_ref")
        if values.get(name)
    }
    key_type = KeyAlgorithm.EC_P256 if kind is CertificateKind.INDIVIDUAL else KeyAlgorithm.RSA2048
    issued = controlled_actions.issue(
        authority, kind.value, data, csr=None, key_type=key_type, actor=user.actor
    )
    who = holder(issued.certificate.subject.rfc4514_string())
    message = f"{console_text(request, 'issued')}: {who} ({issued.serial_hex})"
    if issued.setup_code is not None:
        message += f". {console_text(request, 'setup_code')}: {issued.setup_code}"
    return message


@dataclass(frozen=True)
class _Revocable:
    """What the confirmation shows of the certificate to revoke."""

    serial: str
    subject: str
    profile: str
    not_after: dt.datetime


def _revocable(authority: AuthorityDep, serial: str) -> _Revocable:
    """The subscriber certificate ``serial`` of the path (a dependency): only those have a revoke button."""
    try:
        with authority.database.transaction() as session:
            record = certificate_by_serial(session, serial)
            found = record and _Revocable(record.serial, record.subject, record.profile, record.not_after)
    except ValueError:  # not a serial number
        found = None
    if not found or found.profile not in {kind.value for kind in REQUEST_FIELDS}:
        raise NotFound(f"no subscriber certificate with serial {serial}")
    return found


def _fitting_cases(profile: str) -> list[str]:
    """The Decree 68 cases that can happen to a subject of this kind (an official retires, an agency is
    dissolved, a device is retired): the only ones the form offers."""
    kind = CertificateKind(profile)
    return [case for case, kinds in CASE_KINDS.items() if kind in kinds]


@router.get("/certificates/{serial}/revoke", response_class=HTMLResponse)
def revoke_form(
    request: Request,
    user: Annotated[ConsoleUser, Depends(signed_in(OFFICERS))],  # first: nobody else learns what exists
    record: Annotated[_Revocable, Depends(_revocable)],
) -> Response:
    reasons, heading = _fitting_cases(record.profile), console_text(request, "revoke_title")
    return render(request, "console_revoke.html", user=user, record=record, reasons=reasons, heading=heading)


@router.post("/certificates/{serial}/revoke", response_class=HTMLResponse)
def revoke(
    request: Request,
    services: ServicesDep,
    user: Annotated[ConsoleUser, Depends(form_of(OFFICERS))],  # first: nobody else learns what exists
    record: Annotated[_Revocable, Depends(_revocable)],
    reason: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """A reason chosen: the confirmation (the holder and the reason, in words); confirmed: the revocation."""
    if reason not in _fitting_cases(record.profile):
        raise InvalidRequest(console_text(request, "reason_choose"))
    if confirmed != "yes":
        heading = console_text(request, "revoke_title")
        return render(
            request, "console_revoke.html", user=user, record=record, reason=reason, heading=heading
        )
    why = reason_for_certificate(services.authority, record.serial, reason)
    authority, responder = services.authority, services.ocsp
    controlled_actions.revoke(authority, record.serial, why, None, actor=user.actor, responder=responder)
    done = console_text(request, "revoked").format(holder=holder(record.subject), serial=record.serial)
    return message_page(request, user, done)


@router.get("/approvals", response_class=HTMLResponse)
def approvals(
    request: Request,
    authority: AuthorityDep,
    user: Annotated[ConsoleUser, Depends(signed_in(ADMINISTRATORS))],
) -> Response:
    items = list_requests(authority)
    return render(request, "console_approvals.html", user=user, items=items, actions=ACTIONS)


@router.post("/approvals/{approval_id}/{decision}", response_class=HTMLResponse)
def vote(
    request: Request,
    authority: AuthorityDep,
    settings: SettingsDep,
    approval_id: str,
    decision: str,
    user: Annotated[ConsoleUser, Depends(form_of(VOTERS))],
) -> Response:
    if decision not in ("approve", "reject"):
        raise NotFound(f"no such decision {decision!r}: approve or reject")
    if user.role not in APPROVERS[view(authority, approval_id).action]:
        raise NotAuthorised("your role does not vote on this action")
    approve = decision == "approve"
    executors = runtime.approval_executors(settings)
    outcome = decide(authority, approval_id, approver=user.actor, approve=approve, executors=executors)
    lang = language(request)
    said = f"{term(lang, 'action', outcome.action)}: {term(lang, 'approval', outcome.state)}"
    if lang == "en":  # the request's own summary and result are the domain's English
        said = f"{outcome.summary}: {outcome.state}" + (f" — {outcome.outcome}" if outcome.outcome else "")
    return message_page(request, user, said)
