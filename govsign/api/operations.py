"""What operators and orchestrators ask the running service: is it up, is it ready, how is it doing.

``/livez`` answers as long as the worker's event loop runs (restart it when not); ``/readyz`` answers 200
only when the database completes ``SELECT 1`` and the HSM a round trip (send it traffic only then), and 503
with the reason otherwise; ``/healthz`` is ``/readyz`` under its older name. ``/metrics`` is the Prometheus
exposition (:mod:`govsign.http.metrics`) for an auditor's or CA administrator's API token: route names,
HSM error counts and backlogs are reconnaissance for an attacker, so they are not public.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from ca.authority import Authority
from ca.errors import CaError
from govsign.access.administrators import Role
from govsign.http.access import Caller, require
from govsign.http.deps import AuthorityDep
from govsign.http.metrics import CONTENT_TYPE, exposition

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/livez")
async def livez() -> dict[str, str]:
    """The worker process is up and its event loop answers; touches neither the database nor the HSM."""
    return {"status": "alive"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers ``SELECT 1`` and the HSM a round trip; 503 with the reason."""
    return await asyncio.to_thread(readiness, request.app.state.authority)


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """The same check as ``/readyz`` (kept for the deployments and scripts that know this name)."""
    return await asyncio.to_thread(readiness, request.app.state.authority)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
async def metrics(
    authority: AuthorityDep, caller: Annotated[Caller, Depends(require(Role.AUDITOR, Role.CA_ADMIN))]
) -> Response:
    """Prometheus metrics of every worker process (auditors and CA administrators)."""
    return Response(await asyncio.to_thread(exposition, authority), media_type=CONTENT_TYPE)


def readiness(open_authority: Callable[[], Authority]) -> JSONResponse:
    """Each dependency's state, and 503 naming what is unavailable unless every one answers (the worker's
    Authority is opened here if start-up could not: a database or HSM that was away may be back)."""
    try:
        authority = open_authority()
    except Exception as error:  # not ready until it opens; the reason is the answer, never a 500
        reason = f"cannot open the CA: {type(error).__name__}: {error}"
        return JSONResponse({"status": "degraded", "reason": reason}, status_code=503)
    checks: dict[str, str] = {}
    try:
        with authority.database.transaction() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # any driver error means "not ready", reported, never raised
        checks["database"] = f"unavailable: {type(error).__name__}"
    try:
        authority.token.probe()
        checks["hsm"] = "ok"
    except CaError as error:
        checks["hsm"] = f"unavailable: {error}"
    failing = [f"{name} {state}" for name, state in checks.items() if state != "ok"]
    if not failing:
        return JSONResponse({"status": "ok", **checks})
    return JSONResponse({"status": "degraded", **checks, "reason": "; ".join(failing)}, status_code=503)
