"""The request an action belongs to, so that a log line and an audit entry can be matched to it.

The HTTP face sets :data:`REQUEST_ID` for each request; the context variable follows the request into
worker threads (``asyncio.to_thread`` and Starlette's thread pool copy the context), so the audit log can
name the request without ``ca`` knowing HTTP. Outside a request (CLI, background rounds) it is None.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["REQUEST_ID"]

REQUEST_ID: ContextVar[str | None] = ContextVar("govsign_request_id", default=None)
