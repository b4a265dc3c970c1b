"""Plain ASGI guards in front of FastAPI: request bodies bounded in size and time, browser security
headers, and the per-client limits of the public routes.

Plain ASGI rather than FastAPI's HTTP middleware, so the /pki protocol routes (OCSP, CRL, TSA, which
browsers never render) pay a prefix check and a counter, nothing else.

Bodies are counted as they are read, not as declared: a chunked upload, or one whose Content-Length
lies, is refused the moment it passes its limit, before the multipart parser has spooled more than the
limit to its temporary file. A body that stops arriving is refused after ``idle_seconds``. Either way
the answer closes the connection, so the rest of the body is never read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ca.rate_limit import RateLimiter
from govsign.config.settings import Settings

__all__ = [
    "FORM_LIMIT",
    "SECURITY_HEADERS",
    "BodyGuard",
    "BodyLimits",
    "BodyRefused",
    "ClientLimits",
    "SecurityHeaders",
]

FORM_LIMIT = 1 << 20  # any body that is not an upload; also the multipart framing around a document
VERIFY_PATHS = frozenset(
    {
        "/api/v1/verify",
        "/api/v1/verify/revision",
        "/api/v1/verify/difference",
        "/verify",
        "/verify/report.pdf",
    }
)

# Pages are server-rendered from the app's own stylesheet and scripts, no third-party content; nothing may
# frame them. Styles stay 'unsafe-inline' for Swagger UI and ReDoc (/docs, /redoc), which inject theirs;
# our own templates carry none (tests/test_ui_browser.py reloads them under a policy without it).
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
# Pages and API answers carry one person's data (a console page, a report on their document, a signed
# PDF): no shared cache or browser history may keep them. Static assets are the same for everyone.
_NO_STORE = (b"cache-control", b"no-store")
_STATIC_PREFIX = "/static/"


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response outside /pki, and ``Cache-Control: no-store`` to
    those that do not say how they may be cached (static assets excepted)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/pki/"):
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(_STATIC_PREFIX)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *SECURITY_HEADERS]
                if not cacheable and all(name.lower() != b"cache-control" for name, _ in headers):
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyRefused(HTTPException):
    """A request body refused while it was read: larger than ``limit`` bytes (413), or silent for
    ``idle_seconds`` (408). Each face answers it in its own form (:meth:`sentence`)."""

    def __init__(self, status_code: int, *, limit: int, idle_seconds: float) -> None:
        super().__init__(status_code)
        self.limit, self.idle_seconds = limit, idle_seconds
        self.detail = self.sentence("en")

    def sentence(self, lang: str) -> str:
        """What went wrong, in English (``en``) or Vietnamese (``vi``)."""
        # an upload's limit is its document's plus the framing: the person knows the document's
        mib = max(1, (self.limit - FORM_LIMIT if self.limit > FORM_LIMIT else self.limit) >> 20)
        seconds = f"{self.idle_seconds:g}"
        if self.status_code == 408:
            if lang == "en":
                return f"the upload stalled: nothing arrived for {seconds} seconds; send it again"
            return f"Tệp tải lên bị gián đoạn: không nhận được dữ liệu trong {seconds} giây; hãy gửi lại."
        if lang == "en":
            return f"the upload is larger than the {mib} MiB this service accepts"
        return f"Tệp tải lên lớn hơn {mib} MiB, mức tối đa dịch vụ chấp nhận."


@dataclass(frozen=True)
class BodyLimits:
    """The largest body each kind of request may send, in bytes, and how long it may stay silent."""

    form: int  # JSON, forms, protocol requests: anything but an upload
    upload: int  # multipart uploads: documents to sign, images, certificates
    verify: int  # uploads to the validation routes (:data:`VERIFY_PATHS`)
    idle_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(
            form=FORM_LIMIT,
            upload=settings.max_document_bytes + FORM_LIMIT,
            verify=settings.max_verify_bytes + FORM_LIMIT,
            idle_seconds=settings.body_idle_seconds,
        )

    def for_request(self, scope: Scope) -> int:
        if scope["path"] in VERIFY_PATHS:
            return self.verify
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        return self.upload if content_type.lower().startswith(b"multipart/form-data") else self.form


class _MeteredBody:
    """The ``receive`` of one request, counting body bytes against ``limit`` and timing out silences."""

    def __init__(self, receive: Receive, scope: Scope, limits: BodyLimits) -> None:
        self._receive = receive
        self.limit, self.idle_seconds = limits.for_request(scope), limits.idle_seconds
        declared = dict(scope["headers"]).get(b"content-length", b"")
        self.declared_too_large = declared.isdigit() and int(declared) > self.limit
        self.received = 0
        self.complete = False
        self.refusal: BodyRefused | None = None

    async def receive(self) -> Message:
        if self.refusal is not None:
            raise self.refusal
        if self.complete:
            return await self._receive()
        if self.declared_too_large:  # refused before a byte is read
            raise self._refuse(413)
        try:
            async with asyncio.timeout(self.idle_seconds):
                message = await self._receive()
        except TimeoutError:
            raise self._refuse(408) from None
        if message["type"] != "http.request":
            self.complete = True
            return message
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            raise self._refuse(413)
        self.complete = not message.get("more_body", False)
        return message

    def _refuse(self, status: int) -> BodyRefused:
        self.refusal = BodyRefused(status, limit=self.limit, idle_seconds=self.idle_seconds)
        return self.refusal


class BodyGuard:
    """Meters every request body (:class:`_MeteredBody`); once one is refused, the response closes the
    connection whatever the application answered, so the server reads no more of it."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _MeteredBody(receive, scope, self.limits)

        async def closing_if_refused(message: Message) -> None:
            if message["type"] == "http.response.start" and body.refusal is not None:
                kept = [(name, value) for name, value in message.get("headers", []) if name != b"connection"]
                message["headers"] = [*kept, (b"connection", b"close")]
            await send(message)

        await self.app(scope, body.receive, closing_if_refused)


@dataclass(frozen=True)
class ClientLimits:
    """The per-client-address rate limits of the public routes, one set per worker process."""

    verify: RateLimiter  # validations (API and page)
    tsa: RateLimiter  # time-stamps: each one is an HSM signature
    refused: RateLimiter  # refused API calls (401/403): past it, 429 before the token is looked at

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientLimits:
        return cls(
            verify=RateLimiter(settings.verify_rate_per_second, settings.verify_burst),
            tsa=RateLimiter(settings.tsa_rate_per_second, settings.tsa_burst),
            refused=RateLimiter(settings.refused_rate_per_second, settings.refused_burst),
        )
