"""Plain ASGI guards in front of FastAPI: upload limits and browser security headers.

Plain ASGI rather than FastAPI's HTTP middleware, so the /pki protocol routes (OCSP, CRL, TSA, which
browsers never render) pay one prefix check and nothing else.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SECURITY_HEADERS", "SecurityHeaders", "UploadLimit"]

# Pages are server-rendered with their styles inline and no third-party content; nothing may frame them.
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response outside /pki."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/pki/"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class UploadLimit:
    """413 for an /api/ upload whose declared size is over the limit, before a byte of it is read."""

    def __init__(self, app: ASGIApp, *, limit: int, detail: str) -> None:
        self.app = app
        self.limit = limit
        self.detail = detail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.limit:
                await JSONResponse({"detail": self.detail}, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)
