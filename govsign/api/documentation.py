"""The API's own description: ``/openapi.json`` and the two pages that render it, ``/docs`` (Swagger UI)
and ``/redoc`` (ReDoc), served entirely by this application.

The agency's machines may have no Internet and the pages' Content-Security-Policy
(:data:`govsign.http.hardening.SECURITY_HEADERS`) allows scripts from this origin only, so FastAPI's own
pages, which load both tools from a CDN and start Swagger UI with an inline script, cannot work here. The
tools' files come from the ``fastapi-offline`` distribution (MIT; Swagger UI is Apache-2.0, ReDoc MIT) and are
served under ``/static/api-docs/``; Swagger UI is started by ``/static/swagger-init.js``.

The document declares the ``bearer`` security scheme once (:mod:`govsign.http.access`) and lists it on every
route that requires a caller; only those routes document 401 and 403, since a public route never answers them.
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PREFIX", "install"]

ASSETS_PREFIX = "/static/api-docs"
_ASSETS = Path(str(files("fastapi_offline") / "static"))
_REFUSALS = ("401", "403")  # what only a route with a security requirement can answer

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets, and describe the API with its security (call before the
    application's ``/static`` mount, which would otherwise shadow the assets)."""
    app.include_router(router)  # first: its ReDoc bundle shadows the file of the same name in the mount
    app.mount(ASSETS_PREFIX, StaticFiles(directory=_ASSETS), name="api-docs")

    def described() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = without_refusals_on_public_routes(schema)
        return app.openapi_schema

    app.openapi = described  # type: ignore[method-assign]


def without_refusals_on_public_routes(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with 401 and 403 removed from every operation that requires no security."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and not operation.get("security"):
                for status in _REFUSALS:
                    operation.get("responses", {}).pop(status, None)
    return schema


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{head}</head>'
        f"<body>{body}</body></html>"
    )


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    """Swagger UI over /openapi.json: try the API in the browser with a bearer token."""
    return _page(
        "govsign API — Swagger UI",
        f'<link rel="stylesheet" href="{ASSETS_PREFIX}/swagger-ui.css">',
        f'<div id="swagger-ui" data-openapi="/openapi.json"></div>'
        f'<script src="{ASSETS_PREFIX}/swagger-ui-bundle.js"></script>'
        '<script src="/static/swagger-init.js"></script>',
    )


@router.get("/redoc")
def redoc() -> HTMLResponse:
    """ReDoc over /openapi.json: the API as a document to read. Its search runs in a worker made from a
    ``blob:`` URL, which the CSP forbids, so it is turned off (Swagger UI filters by tag)."""
    return _page(
        "govsign API — ReDoc",
        "",
        '<redoc spec-url="/openapi.json" disable-search="true"></redoc>'
        f'<script src="{ASSETS_PREFIX}/redoc.standalone.js"></script>',
    )


@router.get(f"{ASSETS_PREFIX}/redoc.standalone.js")
def redoc_bundle() -> Response:
    """ReDoc's bundle without the one address it loads from elsewhere (its logo, from its CDN, beside the
    "API docs by Redocly" link): an empty ``data:`` image instead, which ReDoc hides when it fails."""
    return Response(
        _offline_redoc(), media_type="text/javascript", headers={"cache-control": "max-age=86400"}
    )


@cache
def _offline_redoc() -> bytes:
    bundle = (_ASSETS / "redoc.standalone.js").read_bytes()
    assert _REDOC_LOGO in bundle, "a ReDoc that loads its logo elsewhere differently: look again"
    return bundle.replace(_REDOC_LOGO, b"data:,")


_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
