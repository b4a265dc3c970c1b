"""The PKI protocol endpoints whose URLs are written into certificates: AIA (RFC 5280 §4.2.2.1), CDP
(§4.2.1.13), OCSP (RFC 6960 with the RFC 5019 profile, POST and GET) and the TSA (RFC 3161 §3.4).

These routes are async and stay outside the console's middleware: relying parties all over the country hit
them. An OCSP request answered from memory never leaves the event loop; anything that needs the database
or the HSM runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hashlib
import re
import urllib.parse
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ca.ocsp import MALFORMED_REQUEST, OcspAnswer
from ca.status import StatusServices
from ca.store import utc_now
from govsign.http.deps import AuthorityDep, ClientAddress, LimitsDep, ServicesDep
from govsign.http.metrics import ROUTE_TEMPLATE

router = APIRouter(prefix="/pki", tags=["pki"])
_CA_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SHARD = re.compile(r"^[0-9]{1,4}$")
OCSP_REQUEST_LIMIT = 10 * 1024
TSA_REQUEST_LIMIT = 64 * 1024
_OCSP_GET_PREFIX = "/pki/ocsp/"
_OCSP_GET_ROUTE = "/pki/ocsp/{encoded:path}"


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _http_date(moment: object) -> str:
    return email.utils.format_datetime(moment, usegmt=True)  # type: ignore[arg-type]


@router.get(
    "/ca/{name}.crt",
    response_class=Response,
    responses={200: {"content": {"application/pkix-cert": {}}}, 404: {"description": "no such CA"}},
)
async def ca_certificate(name: str, request: Request, authority: AuthorityDep) -> Response:
    """The issuer certificate named by an AIA caIssuers URL, DER-encoded (RFC 5280 §4.2.2.1)."""
    if not _CA_NAME.fullmatch(name):
        raise HTTPException(404, f"no CA named {name!r}")
    der = await asyncio.to_thread(authority.ca_certificate, name)
    if der is None:
        raise HTTPException(404, f"no CA named {name!r}")
    etag = '"' + hashlib.sha256(der).hexdigest()[:32] + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(
        der,
        media_type="application/pkix-cert",
        headers={"Cache-Control": "public, max-age=86400", "ETag": etag},
    )


@router.get(
    "/crl/{name}.crl",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}, 404: {"description": "no such CRL"}},
)
async def crl(name: str, request: Request, services: ServicesDep) -> Response:
    """The newest full CRL of a CA, as named by the CDP of its certificates issued before CRL shards."""
    if not _CA_NAME.fullmatch(name):
        raise HTTPException(404, f"no CRL for a CA named {name!r}")
    return await _crl_response(request, services, name, None)


@router.get(
    "/crl/{name}/{shard}.crl",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}, 404: {"description": "no such CRL shard"}},
)
async def crl_shard(name: str, shard: str, request: Request, services: ServicesDep) -> Response:
    """The newest CRL of one shard of a CA (RFC 5280 issuingDistributionPoint), as named by the CDP of a
    certificate: the certificates whose serial modulo the shard count is ``shard``."""
    if not _CA_NAME.fullmatch(name) or not _SHARD.fullmatch(shard):
        raise HTTPException(404, f"no CRL shard {shard!r} for a CA named {name!r}")
    return await _crl_response(request, services, name, int(shard))


async def _crl_response(request: Request, services: StatusServices, name: str, shard: int | None) -> Response:
    """The CRL from this process's memory when checked in the last second, else from the database; 304 for
    a matching If-None-Match (the ETag is the CRL number, unique across a CA's CRLs)."""
    published = services.crl_cache.from_memory(name, shard) or await asyncio.to_thread(
        services.crl, name, shard
    )
    if published is None:
        raise HTTPException(
            404, f"no CRL for a CA named {name!r}" + (f", shard {shard}" if shard is not None else "")
        )
    etag = f'"{name}-{published.number}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    max_age = max(0, min(300, int((published.next_update - utc_now()).total_seconds())))
    return Response(
        published.der,
        media_type="application/pkix-crl",
        headers={
            "Cache-Control": f"public, max-age={max_age}, no-transform",
            "ETag": etag,
            "Last-Modified": _http_date(published.this_update),
            "Expires": _http_date(published.next_update),
        },
    )


def _caching_headers(answer: OcspAnswer) -> dict[str, str]:
    """What an HTTP cache may do with a pre-signed answer: keep it, but ask again every time.

    RFC 5019 §6 lets a responder give caches a max-age up to nextUpdate, but a cached "good" then hides a
    revocation for as long, and this service promises that every server answers "revoked" within a second.
    So the trade-off is explicit: ``no-cache`` with ``max-age=0`` (and an Expires already past, so that no
    HTTP/1.0 cache guesses a lifetime from Last-Modified) makes a cache revalidate each use; the ETag is the
    answer's digest, so a revalidation costs a 304 while the answer stands, and returns the new answer the
    moment it changed.
    """
    if answer.next_update is None or answer.this_update is None:
        return {}
    return {
        "Cache-Control": "public, max-age=0, no-cache, no-transform",
        "ETag": answer.etag,
        "Last-Modified": _http_date(answer.this_update),
        "Expires": _http_date(answer.this_update),
    }


def _ocsp_response(answer: OcspAnswer) -> Response:
    return Response(answer.der, media_type="application/ocsp-response", headers=_caching_headers(answer))


class OcspGetFastPath:
    """GET /pki/ocsp/{base64} answered from memory in front of FastAPI's routing, which costs more than the
    answer itself; anything this cannot answer from memory goes on to the route, unchanged.

    Plain ASGI: the pre-signed response, its caching headers, or 304 for a matching If-None-Match.
    """

    def __init__(self, app: ASGIApp, *, services: Callable[[], StatusServices]) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(_OCSP_GET_PREFIX)
        ):
            answer = self._from_memory(scope["path"][len(_OCSP_GET_PREFIX) :])
            if answer is not None:
                scope[ROUTE_TEMPLATE] = _OCSP_GET_ROUTE  # counted with the route it stands in for
                await self._send(answer, scope, send)
                return
        await self.app(scope, receive, send)

    def _from_memory(self, encoded: str) -> OcspAnswer | None:
        if len(encoded) > OCSP_REQUEST_LIMIT:
            return None
        try:
            request_der = base64.b64decode(urllib.parse.unquote(encoded), validate=True)
        except (binascii.Error, ValueError):
            return None
        answer = self.services().ocsp.respond_from_memory(request_der)
        return answer if answer is not None and answer.next_update is not None else None

    @staticmethod
    async def _send(answer: OcspAnswer, scope: Scope, send: Send) -> None:
        headers = _caching_headers(answer)
        if dict(scope["headers"]).get(b"if-none-match", b"").decode("latin-1") == answer.etag:
            status, body, headers = 304, b"", {"ETag": answer.etag}
        else:
            status, body = 200, answer.der
            headers["Content-Type"] = "application/ocsp-response"
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        raw.append((b"content-length", str(len(body)).encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


async def _answer_ocsp(
    request: Request, request_der: bytes, services: StatusServices, client: str
) -> Response:
    answer = services.ocsp.respond_from_memory(request_der)
    if answer is None:
        answer = await asyncio.to_thread(services.ocsp.respond, request_der, client=client)
    if answer.etag and request.headers.get("if-none-match") == answer.etag and answer.next_update is not None:
        return Response(status_code=304, headers={"ETag": answer.etag})
    return _ocsp_response(answer)


@router.post(
    "/ocsp",
    response_class=Response,
    responses={
        200: {"content": {"application/ocsp-response": {}}},
        413: {"description": "request too large"},
    },
)
async def ocsp_post(request: Request, services: ServicesDep, client: ClientAddress) -> Response:
    """RFC 6960 §A.1.1: a DER OCSPRequest in the body (Content-Type application/ocsp-request)."""
    return await _answer_ocsp(request, await _body(request, OCSP_REQUEST_LIMIT), services, client)


@router.get(
    "/ocsp/{encoded:path}",
    response_class=Response,
    responses={200: {"content": {"application/ocsp-response": {}}}},
)
async def ocsp_get(encoded: str, request: Request, services: ServicesDep, client: ClientAddress) -> Response:
    """RFC 6960 §A.1.1 / RFC 5019 §5: the URL-encoded base64 of the DER OCSPRequest in the path."""
    if len(encoded) > OCSP_REQUEST_LIMIT:
        raise HTTPException(413, "request too large")
    try:
        request_der = base64.b64decode(urllib.parse.unquote(encoded), validate=True)
    except (binascii.Error, ValueError):
        return _ocsp_response(OcspAnswer(MALFORMED_REQUEST))
    return await _answer_ocsp(request, request_der, services, client)


@router.post(
    "/tsa",
    response_class=Response,
    responses={
        200: {"content": {"application/timestamp-reply": {}}},
        413: {"description": "request too large"},
        429: {"description": "too many time-stamp requests from this address"},
    },
)
async def tsa(request: Request, services: ServicesDep, limits: LimitsDep, client: ClientAddress) -> Response:
    """RFC 3161 §3.4: a DER TimeStampReq in, a DER TimeStampResp out (errors are TimeStampResp too).

    Every time-stamp is an HSM signature, so each client address gets ``GOVSIGN_TSA_RATE_PER_SECOND``
    (429 past it, as a busy HTTP server would answer; a TimeStampResp has no "try later" status)."""
    if not limits.tsa.allow(client):
        raise HTTPException(429, "too many time-stamp requests from your address; try again in a second")
    body = await _body(request, TSA_REQUEST_LIMIT)
    reply = await asyncio.to_thread(services.tsa.respond, body)
    return Response(reply, media_type="application/timestamp-reply")
