"""The /csc/v1 and /csc/v2 routes: each parses its version's JSON, calls the one domain function of its
operation (govsign/csc/service.py) and shapes the answer in its version's JSON.

Access: ``info`` is public; every other route needs an official's or a clerk's API token
(``Authorization: Bearer gsk_...``), declared as :data:`SigningCaller` like every signing route, so
refusals are throttled and audited the same way. Every error, from the token check to the HSM, leaves
through :class:`CscRoute` as the spec's ``{"error", "error_description"}``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from ca.authority import Authority
from govsign.csc import service
from govsign.csc.errors import CscErrorBody, Version, csc_error, error_response
from govsign.csc.models import (
    AuthorizeResponse,
    CredentialInfoCommon,
    CredentialInfoRequest,
    SignHashResponse,
)
from govsign.csc.models_v1 import (
    AuthorizeRequestV1,
    CredentialInfoResponseV1,
    InfoResponseV1,
    ListRequestV1,
    ListResponseV1,
    SignHashRequestV1,
)
from govsign.csc.models_v2 import (
    AuthorizeRequestV2,
    CredentialInfoResponseV2,
    InfoResponseV2,
    ListRequestV2,
    ListResponseV2,
    SignHashRequestV2,
)
from govsign.http.access import Caller, SigningCaller

__all__ = ["router"]


class CscRoute(APIRoute):
    """Answers every domain, validation and access error of a /csc route in the spec's JSON, and leaves
    out the optional fields a response does not have (the spec's "absent", never ``null``)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **{**options, "response_model_exclude_none": True})

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        version: Version = "v1" if self.path.startswith("/csc/v1/") else "v2"

        async def answer(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as error:
                refusal = csc_error(error)
                if refusal is None:
                    raise
                return error_response(refusal, version)

        return answer


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": CscErrorBody, "description": text}
    for status, text in (
        (400, "the spec's error JSON"),
        (401, "no or unknown API token"),
        (403, "not a signer"),
    )
}
router = APIRouter(prefix="/csc", tags=["CSC"], route_class=CscRoute, responses=_ERRORS)


def _authority(request: Request) -> Authority:
    authority: Authority = request.app.state.authority()
    return authority


def _credentials(
    request: Request, caller: Caller, options: ListRequestV2
) -> list[service.CredentialDescription]:
    account = caller.signing_account
    ids = service.list_credentials(_authority(request), account)
    return [service.describe_credential(_authority(request), account, i, options.selection()) for i in ids]


# -- what both versions do alike, declared with each version's JSON -----------------------------------

AuthorizeRequest = AuthorizeRequestV1 | AuthorizeRequestV2
SignHashRequest = SignHashRequestV1 | SignHashRequestV2


@dataclass(frozen=True)
class _Wire:
    """One version's JSON for the operations both versions perform alike."""

    version: Version
    spec: str
    credential_info: type[CredentialInfoResponseV1 | CredentialInfoResponseV2]
    authorize: type[AuthorizeRequest]
    sign_hash: type[SignHashRequest]


def _authorize(request: Request, caller: SigningCaller, body: AuthorizeRequest) -> AuthorizeResponse:
    """The holder's PIN (and OTP) for exactly the hashes given: a SAD that signs them once, for 5 minutes."""
    authority, account = _authority(request), caller.signing_account
    return AuthorizeResponse.of(service.authorize(authority, account, body.to_domain(), actor=caller.actor))


def _sign_hash(request: Request, caller: SigningCaller, body: SignHashRequest) -> SignHashResponse:
    """Raw signatures of hashes the SAD authorised; the SAD is spent."""
    authority, account = _authority(request), caller.signing_account
    return SignHashResponse.of(service.sign_hashes(authority, account, body.to_domain(), actor=caller.actor))


def _with_body(endpoint: Callable[..., Any], model: type[BaseModel]) -> Callable[..., Any]:
    """``endpoint`` with its ``body`` declared as ``model``: FastAPI reads the signature to parse and
    document the request, so each version's route takes (and its OpenAPI page shows) its own JSON."""

    @functools.wraps(endpoint)
    def route(**arguments: Any) -> Any:
        return endpoint(**arguments)

    signature = inspect.signature(endpoint)
    params = [p.replace(annotation=model) if p.name == "body" else p for p in signature.parameters.values()]
    route.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return route


def _add_signing_routes(wire: _Wire) -> None:
    """credentials/info, credentials/authorize and signatures/signHash of one version."""

    def credential_info(
        request: Request, caller: SigningCaller, body: CredentialInfoRequest
    ) -> CredentialInfoCommon:
        found = service.describe_credential(
            _authority(request), caller.signing_account, body.credentialID, body.selection()
        )
        return wire.credential_info.of(found, body.certInfo)

    routes = (
        ("credentials/info", "credential_info", credential_info, wire.credential_info),
        ("credentials/authorize", "authorize", _with_body(_authorize, wire.authorize), AuthorizeResponse),
        ("signatures/signHash", "sign_hash", _with_body(_sign_hash, wire.sign_hash), SignHashResponse),
    )
    for operation, name, endpoint, answer in routes:
        router.add_api_route(
            f"/{wire.version}/{operation}",
            endpoint,
            methods=["POST"],
            name=f"{name}_{wire.version}",
            summary=f"{wire.spec} {operation}",
            response_model=answer,
        )


# -- CSC 1.0.4 (pyHanko's CSCSigner) -----------------------------------------------------------------


@router.post("/v1/info", summary="CSC 1.0.4 info")
def info_v1() -> InfoResponseV1:
    """The service and the methods it implements (no token needed)."""
    return InfoResponseV1()


@router.post("/v1/credentials/list", summary="CSC 1.0.4 credentials/list")
def list_v1(request: Request, caller: SigningCaller, body: ListRequestV1) -> ListResponseV1:
    """The caller's own credential (the key of their account's certificate)."""
    return ListResponseV1(credentialIDs=service.list_credentials(_authority(request), caller.signing_account))


_add_signing_routes(_Wire("v1", "CSC 1.0.4", CredentialInfoResponseV1, AuthorizeRequestV1, SignHashRequestV1))


# -- CSC 2.0 ---------------------------------------------------------------------------------------------


@router.post("/v2/info", summary="CSC 2.0 info")
def info_v2() -> InfoResponseV2:
    """The service, the methods and the signature algorithms it implements (no token needed)."""
    return InfoResponseV2()


@router.post("/v2/credentials/list", summary="CSC 2.0 credentials/list")
def list_v2(request: Request, caller: SigningCaller, body: ListRequestV2) -> ListResponseV2:
    """The caller's own credential, with its details when ``credentialInfo`` is true."""
    return ListResponseV2.of(_credentials(request, caller, body), body)


_add_signing_routes(_Wire("v2", "CSC 2.0", CredentialInfoResponseV2, AuthorizeRequestV2, SignHashRequestV2))
