"""Every HTTP request observed once: its request id, its metrics and (when switched on) its access line.

Plain ASGI, outermost, so it sees every answer (the OCSP fast path's and the guards' included) at the cost
of a dictionary look-up and two metric updates. The request id is the caller's ``X-Request-ID`` when it
is sane (1-64 characters of letters, digits and ``-_.:``: it goes into logs and audit entries), otherwise
a new random one; it is echoed in the response's ``X-Request-ID`` and set in :data:`ca.correlation.REQUEST_ID`
for the logs and the audit log of everything the request does.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ca.correlation import REQUEST_ID
from govsign.http.metrics import HTTP_LATENCY, HTTP_REQUESTS, ROUTE_TEMPLATE

__all__ = ["RequestObservation", "route_template"]

access = logging.getLogger("govsign.access")

_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # one series for every path no route knows (404s, probes, scanners)


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/api/v1/batches/{batch_id}``), never the raw path."""
    named = scope.get(ROUTE_TEMPLATE)
    if named is not None:
        return str(named)
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _SANE_REQUEST_ID.fullmatch(value):
            return bytes(value).decode("ascii")
    return secrets.token_hex(16)


class RequestObservation:
    """Request id, request counts and latency per route template, access log (see the module)."""

    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log
        # The labelled series already made, so the hot path (OCSP) skips prometheus-client's label look-up.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500  # what the client sees when the application fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        reset = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._observe(scope, status, time.perf_counter() - started)
            REQUEST_ID.reset(reset)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = route_template(scope)
        series = self._series.get((method, route, status))
        if series is None:  # bounded: route templates x methods x statuses
            series = self._series[(method, route, status)] = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_LATENCY.labels(method, route),
            )
        series[0].inc()
        series[1].observe(seconds)
        if self.access_log:
            client = scope.get("client")
            access.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration": round(seconds, 6),
                    "client": client[0] if client else None,
                },
            )
