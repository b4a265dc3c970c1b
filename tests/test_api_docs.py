"""The API's description and its two pages: /openapi.json declares the bearer scheme once, lists it on every
route that needs a caller and 401/403 only there (checked against the access table of test_access_matrix.py,
written independently of the code); /docs and /redoc load in Debian's chromium, from this server alone,
under the pages' Content-Security-Policy, and show the operations (screenshots in test-artifacts/)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from govsign.app import create_app
from govsign.config.settings import load_settings
from tests.conftest import Deployment
from tests.test_access_matrix import ACCESS, PUBLIC

CHROMIUM = shutil.which("chromium")
ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op for path, item in schema["paths"].items() for method, op in item.items()
    }


@pytest.mark.pure
def test_bearer_is_declared_once_and_only_protected_routes_answer_401_or_403(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVSIGN_HOME", str(tmp_path))
    schema = create_app(load_settings()).openapi()
    schemes = schema["components"]["securitySchemes"]
    assert list(schemes) == ["bearer"] and (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == (
        "http",
        "bearer",
    )
    wrong = []
    for (method, path), operation in _operations(schema).items():
        protected = ACCESS[(method, path)] != PUBLIC
        secured = operation.get("security") == [{"bearer": []}]
        refusals = {"401", "403"} & set(operation["responses"])
        if secured != protected or (refusals == {"401", "403"}) != protected or (refusals and not protected):
            wrong.append(
                f"{method} {path}: security {operation.get('security')}, refusals {sorted(refusals)}"
            )
        header_names = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "authorization" not in header_names, (method, path)  # the scheme says it, once
    assert not wrong, "\n".join(wrong)


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh installs it)"
)
def test_docs_and_redoc_load_offline_under_the_csp_and_show_the_operations(
    sqlite_deployment: Deployment, public_server: str
) -> None:
    from playwright.sync_api import sync_playwright

    assert "script-src 'self'" in httpx.get(f"{public_server}/docs").headers["content-security-policy"]
    violations: list[str] = []
    elsewhere: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None
        )
        page.on("pageerror", lambda error: violations.append(str(error)))
        page.on(
            "request",
            lambda r: (
                elsewhere.append(r.url) if not r.url.startswith((public_server, "data:", "blob:")) else None
            ),
        )
        page.goto(f"{public_server}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        swagger_paths = page.locator(".opblock-summary-path").all_inner_texts()
        ARTEFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "api-docs.png"))
        assert page.locator(".authorize").count() == 1  # the bearer scheme, offered once
        page.goto(f"{public_server}/redoc")
        page.wait_for_function("() => document.body.innerText.includes('/api/v1/verify')", timeout=30_000)
        redoc_text = page.inner_text("body")
        page.screenshot(path=str(ARTEFACTS / "api-redoc.png"))
        browser.close()
    assert not violations, "\n---\n".join(violations)
    assert not elsewhere, elsewhere  # nothing from a CDN or any other origin
    assert any("/api/v1/verify" in path for path in swagger_paths) and len(swagger_paths) >= 30
    assert "/api/v1/sign" in redoc_text
