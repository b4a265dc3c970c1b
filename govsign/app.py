"""FastAPI assembly: settings, the Authority (opened lazily, once per worker), routers, error mapping."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from ca.errors import CaError, InvalidRequest
from ca.metrics import observe_hsm_with
from ca.status import StatusServices
from govsign.access.errors import AccessError, PendingApproval
from govsign.api import (
    accounts,
    approvals,
    audit,
    batches,
    certificates,
    documentation,
    operations,
    pki,
    signing,
    trust,
    verify,
)
from govsign.api.error_responses import ERROR_RESPONSES, validation_error
from govsign.config import runtime
from govsign.config.settings import Settings, load_settings
from govsign.csc import router as csc_router
from govsign.errors import http_status
from govsign.http import batches as batch_runner
from govsign.http import metrics
from govsign.http.access import RefusalLog
from govsign.http.hardening import BodyGuard, BodyLimits, BodyRefused, ClientLimits, SecurityHeaders
from govsign.http.observation import RequestObservation
from govsign.web import (
    console,
    console_accounts,
    console_audit,
    console_certificate,
    console_officers,
    console_policies,
    console_signing,
    console_trust,
    pages,
)
from signing.errors import SigningError

__all__ = ["create_app"]

log = logging.getLogger("govsign")
T = TypeVar("T")


async def _every(seconds: float, work: Callable[[], object], name: str) -> None:
    """Run ``work`` in a thread every ``seconds``; a failure is logged and the loop goes on."""
    while True:
        try:
            await asyncio.to_thread(work)
        except Exception as error:  # a background loop must outlive a passing HSM or database outage
            log.warning("%s failed: %s: %s", name, type(error).__name__, error)
        await asyncio.sleep(seconds)


@asynccontextmanager
async def _background_work(app: FastAPI) -> AsyncIterator[None]:
    """OCSP change polling (every 200 ms), status maintenance (CRL, OCSP refresh), the resumption of
    interrupted signing batches and the audit of repeated refusals, in every worker process."""
    settings: Settings = app.state.settings
    refusals: RefusalLog = app.state.refusals
    holder = f"{socket.gethostname()}:{os.getpid()}"
    try:  # before the first request: the PKCS#11 login and the database pool are not the clients' wait
        await asyncio.to_thread(app.state.authority)
    except Exception as error:  # serve anyway: /readyz says 503 and why, and the next use tries again
        log.warning("opening the CA at start failed: %s: %s", type(error).__name__, error)
    tasks = [
        asyncio.create_task(
            _every(0.2, lambda: app.state.services().ocsp.poll_changes(), "OCSP change poll")
        ),
        asyncio.create_task(
            _every(
                settings.maintenance_interval_seconds,
                lambda: app.state.services().run_maintenance(holder),
                "status maintenance",
            )
        ),
        asyncio.create_task(
            _every(
                settings.maintenance_interval_seconds,
                lambda: batch_runner.look_after_batches(app.state.authority(), settings),
                "batch upkeep",
            )
        ),
        asyncio.create_task(
            _every(
                min(10.0, settings.refusal_audit_seconds),
                lambda: refusals.flush(app.state.authority()),
                "refusal audit",
            )
        ),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await asyncio.to_thread(refusals.flush, app.state.authority(), everything=True)
        except Exception as error:  # stopping must not fail over an audit the database cannot take now
            log.warning("refusal audit at shutdown failed: %s: %s", type(error).__name__, error)


def _once(make: Callable[[], T]) -> Callable[[], T]:
    """``make`` called once per process, however many threads ask first at the same time (a burst of
    requests at start must not open the CA, its HSM login and its database pool once each); a failure is
    not kept, so the next caller tries again."""
    lock = threading.Lock()
    made: list[T] = []

    def made_once() -> T:
        if not made:
            with lock:
                if not made:
                    made.append(make())
        return made[0]

    return made_once


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI application; uvicorn calls it once in every worker process (factory=True)."""
    settings = settings or load_settings()
    app = FastAPI(
        title="govsign",
        version="0.1.0",
        description="Public-service digital signatures: certificate authority, PAdES signing, validation.",
        lifespan=_background_work,
        responses=ERROR_RESPONSES,
        docs_url=None,  # served from the package, under the pages' CSP: govsign.api.documentation
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.authority = _once(lambda: runtime.open_authority_from(settings))
    app.state.services = _once(lambda: StatusServices(app.state.authority()))
    app.state.limits = ClientLimits.from_settings(settings)
    app.state.refusals = RefusalLog(settings.refusal_audit_seconds)
    observe_hsm_with(metrics.observe_hsm)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: Exception) -> Response:
        if request.url.path.startswith(pages.PAGE_PREFIX):
            return pages.invalid_request_page(request)
        return await validation_error(request, error)

    @app.exception_handler(BodyRefused)
    async def body_refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, BodyRefused)
        if request.url.path.startswith(pages.PAGE_PREFIX):
            return pages.upload_refused_page(request, error)
        if request.url.path.startswith(console.PREFIX):
            page = console.error_page(
                request, InvalidRequest(f"{error.sentence('vi')} / {error.sentence('en')}")
            )
            page.status_code = error.status_code
            return page
        return JSONResponse({"detail": error.detail}, status_code=error.status_code)

    @app.exception_handler(CaError)
    @app.exception_handler(AccessError)
    @app.exception_handler(SigningError)
    async def domain_error(request: Request, error: Exception) -> Response:
        if request.url.path.startswith(console.PREFIX):
            return console.error_page(request, error)
        if isinstance(error, PendingApproval):
            pending = {"approval_id": error.approval_id, "state": "pending", "required": error.required}
            if error.setup_code is not None:
                pending["setup_code"] = error.setup_code
            return JSONResponse({"detail": str(error), **pending}, status_code=202)
        status = http_status(error)
        if status >= 500:
            log.warning("request failed: %s: %s", type(error).__name__, error)
        return JSONResponse({"detail": str(error)}, status_code=status)

    app.add_middleware(pki.OcspGetFastPath, services=app.state.services)
    app.add_middleware(BodyGuard, limits=BodyLimits.from_settings(settings))
    app.add_middleware(SecurityHeaders)  # the guard's own answers carry the headers too
    app.add_middleware(RequestObservation, access_log=settings.access_log)  # outermost: sees every answer
    app.include_router(operations.router)
    app.include_router(pki.router)
    app.include_router(signing.router)
    app.include_router(batches.router)
    app.include_router(certificates.router)
    app.include_router(verify.router)
    app.include_router(trust.router)
    app.include_router(audit.router)
    app.include_router(approvals.router)
    app.include_router(accounts.router)
    app.include_router(csc_router)
    app.include_router(pages.router)
    app.include_router(console.router)
    app.include_router(console_officers.router)
    app.include_router(console_signing.router)
    for management in (console_certificate, console_accounts, console_trust, console_audit, console_policies):
        app.include_router(management.router)
    documentation.install(app)  # before /static, whose mount would shadow the API pages' assets
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
    return app
