"""The console's audit page (``auditor``): browse the log, export a signed range, verify the chain.

Browsing filters by action, actor and a time range typed in Vietnam time (:func:`ca.audit_search.search_log`);
the export is the one `govsign audit export` and `GET /api/v1/audit/export` make (JSON signed by the audit
key in the HSM, itself audited: :func:`ca.audit_export.export_range`), downloaded as a file; verifying
re-walks the whole chain against its HSM head and anchor (:func:`ca.audit.verify_log`, as `govsign audit
verify`) and shows the result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from ca.audit import AuditVerification, verify_log
from ca.audit_export import export_range
from ca.audit_search import AuditQuery, AuditRecord, search_log
from ca.authority import Authority
from govsign.access.console_auth import ConsoleUser
from govsign.http.deps import AuthorityDep
from govsign.web.console import AUDITORS, PREFIX, form_of, signed_in
from govsign.web.console_display import page, parse_local_time

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
EXPORT_DEFAULT = 1000  # entries the export form offers at first


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    authority: AuthorityDep,
    user: Annotated[ConsoleUser, Depends(signed_in(AUDITORS))],
    action: str = "",
    actor: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    query = AuditQuery(
        action=action, actor=actor, since=parse_local_time(since), until=parse_local_time(until)
    )
    entries = search_log(authority.database, query)
    filters = {"action": action, "actor": actor, "since": since, "until": until}
    return _audit_page(request, authority, user, entries, filters, verified=None)


@router.post("/audit/export")
def export(
    authority: AuthorityDep,
    user: Annotated[ConsoleUser, Depends(form_of(AUDITORS))],
    first: Annotated[int, Form(ge=1)] = 1,
    last: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    exported = export_range(authority.database, authority.token, first, last, actor=user.actor)
    document = exported["export"]
    name = f"nhat-ky-kiem-toan-{document['first']}-{document['last']}.json"
    return Response(
        json.dumps(exported, ensure_ascii=False, indent=1).encode("utf-8"),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/audit/verify", response_class=HTMLResponse)
async def verify(
    request: Request, authority: AuthorityDep, user: Annotated[ConsoleUser, Depends(form_of(AUDITORS))]
) -> Response:
    # the whole chain and HSM round trips: off the event loop
    verified = await run_in_threadpool(verify_log, authority.database, authority.token)
    entries = search_log(authority.database, AuditQuery())
    return _audit_page(request, authority, user, entries, {}, verified=verified)


def _audit_page(
    request: Request,
    authority: Authority,
    user: ConsoleUser,
    entries: Sequence[AuditRecord],
    filters: dict[str, str],
    verified: AuditVerification | None,
) -> Response:
    """The page, its export form starting at the newest thousand entries (a whole national log is more
    than one export may hold)."""
    newest = search_log(authority.database, AuditQuery(limit=1))
    export_from = max(1, newest[0].seq - EXPORT_DEFAULT + 1) if newest else 1
    return page(
        request,
        "console_audit.html",
        user,
        entries=entries,
        filters=filters,
        verified=verified,
        export_from=export_from,
    )
