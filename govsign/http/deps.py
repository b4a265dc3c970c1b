"""What the HTTP faces' routes share, declared once as FastAPI dependencies (the full-stack template's
``deps.py``): the settings, the Authority, its status services, the per-client limits, the caller's address.

:func:`govsign.app.create_app` puts the objects on ``app.state`` (the Authority opened lazily, once per
worker); these dependencies are the only readers a route has, so a route names what it needs in its
signature, ``authority: AuthorityDep``, and never reaches into the application. Who the caller is stays in
:mod:`govsign.http.access` (``require``, ``SigningCaller``), the console's user in :mod:`govsign.web.console`.

They are ``async``: each one reads what ``app.state`` already holds, so the routes answered on the event loop
(OCSP, time-stamps) pay no hop to a worker thread for them. Parameters that only depend on the request
never reach the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ca.authority import Authority
from ca.status import StatusServices
from govsign.config.settings import Settings
from govsign.http.hardening import ClientLimits

__all__ = [
    "AuthorityDep",
    "ClientAddress",
    "LimitsDep",
    "ServicesDep",
    "SettingsDep",
    "authority_of",
    "client_address",
    "limits_of",
    "services_of",
    "settings_of",
]


async def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def authority_of(request: Request) -> Authority:
    """The worker's Authority (HSM token and database), opened by the first request or background task."""
    authority: Authority = request.app.state.authority()
    return authority


async def services_of(request: Request) -> StatusServices:
    """OCSP, CRL and TSA over the worker's Authority; revocations go through its OCSP responder."""
    services: StatusServices = request.app.state.services()
    return services


async def limits_of(request: Request) -> ClientLimits:
    limits: ClientLimits = request.app.state.limits
    return limits


async def client_address(request: Request) -> str:
    """The address rate limits and the audit log name the caller by."""
    return request.client.host if request.client else "unknown"


SettingsDep = Annotated[Settings, Depends(settings_of)]
AuthorityDep = Annotated[Authority, Depends(authority_of)]
ServicesDep = Annotated[StatusServices, Depends(services_of)]
LimitsDep = Annotated[ClientLimits, Depends(limits_of)]
ClientAddress = Annotated[str, Depends(client_address)]
