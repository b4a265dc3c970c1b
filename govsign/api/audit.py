"""`/api/v1/audit/export`: auditors take a range of the audit log away as JSON signed in the HSM."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ca.audit_export import export_range
from govsign.access.administrators import Role
from govsign.http.access import Caller, require
from govsign.http.deps import AuthorityDep

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/export")
def export(
    authority: AuthorityDep,
    caller: Annotated[Caller, Depends(require(Role.AUDITOR))],
    first: Annotated[int, Query(ge=1, description="first entry")] = 1,
    last: Annotated[int | None, Query(ge=1, description="last entry (default: the newest)")] = None,
) -> dict[str, Any]:
    """Entries first..last with their chain hashes and checkpoints, signed by the audit key (auditors)."""
    return export_range(authority.database, authority.token, first, last, actor=caller.actor)
