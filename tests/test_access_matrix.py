"""Every route of /openapi.json called by every kind of caller: allowed, 401 or 403 as the route declares.

The expected access of each route is written here, independently of the code's declarations; a route
added without an entry fails the test, so nobody ships an endpoint whose access was never decided.
Allowed callers send no body, so they get a 4xx about the request (never 401 or 403, never 5xx).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Deployment, administrator_token, issue_in_hsm, running_server

PUBLIC = "public"
OFFICIAL, CLERK = "official", "clerk"
CA_ADMIN, RA_OFFICER, AUDITOR = "ca_admin", "ra_officer", "auditor"
CALLERS = (OFFICIAL, CLERK, CA_ADMIN, RA_OFFICER, AUDITOR)
ADMINISTRATORS = {CA_ADMIN, RA_OFFICER, AUDITOR}

ACCESS: dict[tuple[str, str], str | set[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/livez"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): {CA_ADMIN, AUDITOR},
    ("GET", "/pki/ca/{name}.crt"): PUBLIC,
    ("GET", "/pki/crl/{name}.crl"): PUBLIC,
    ("GET", "/pki/crl/{name}/{shard}.crl"): PUBLIC,
    ("POST", "/pki/ocsp"): PUBLIC,
    ("GET", "/pki/ocsp/{encoded}"): PUBLIC,
    ("POST", "/pki/tsa"): PUBLIC,
    ("POST", "/api/v1/sign"): {OFFICIAL, CLERK},
    ("POST", "/api/v1/batches"): {OFFICIAL, CLERK},
    ("GET", "/api/v1/batches/{batch_id}"): {OFFICIAL, CLERK},
    ("GET", "/api/v1/batches/{batch_id}/documents/{name}"): {OFFICIAL, CLERK},
    ("POST", "/api/v1/certificates"): {RA_OFFICER},
    ("POST", "/api/v1/certificates/{serial}/renew"): {RA_OFFICER},
    ("POST", "/api/v1/certificates/{serial}/revoke"): {RA_OFFICER},
    ("POST", "/api/v1/accounts"): {CA_ADMIN},
    ("POST", "/api/v1/accounts/{account_id}/unlock"): {CA_ADMIN},
    ("PUT", "/api/v1/accounts/{account_id}/image"): {RA_OFFICER},
    ("GET", "/api/v1/certificates/{serial}"): ADMINISTRATORS,
    ("GET", "/api/v1/verify/schema"): PUBLIC,
    ("POST", "/api/v1/verify"): PUBLIC,
    ("POST", "/api/v1/verify/revision"): PUBLIC,
    ("POST", "/api/v1/verify/difference"): PUBLIC,
    ("GET", "/api/v1/trust-anchors"): PUBLIC,
    ("POST", "/api/v1/trust-anchors"): {CA_ADMIN},
    ("DELETE", "/api/v1/trust-anchors/{entry_id}"): {CA_ADMIN},
    ("GET", "/api/v1/audit/export"): {AUDITOR},
    ("GET", "/api/v1/approvals"): ADMINISTRATORS,
    ("GET", "/api/v1/approvals/policies"): ADMINISTRATORS,
    ("PUT", "/api/v1/approvals/policies/{action}"): {CA_ADMIN},
    ("GET", "/api/v1/approvals/{approval_id}"): ADMINISTRATORS,
    ("POST", "/api/v1/approvals/{approval_id}/approve"): {RA_OFFICER, CA_ADMIN},
    ("POST", "/api/v1/approvals/{approval_id}/reject"): {RA_OFFICER, CA_ADMIN},
    ("GET", "/verify"): PUBLIC,
    ("POST", "/verify"): PUBLIC,
    ("POST", "/verify/report.pdf"): PUBLIC,
    **{("POST", f"/csc/{version}/info"): PUBLIC for version in ("v1", "v2")},
    **{
        ("POST", f"/csc/{version}/{method}"): {OFFICIAL, CLERK}
        for version in ("v1", "v2")
        for method in ("credentials/list", "credentials/info", "credentials/authorize", "signatures/signHash")
    },
}


@pytest.fixture(scope="module")
def server(sqlite_deployment: Deployment) -> Iterator[str]:
    # the public verification routes are called once per caller: lift the per-address limit here
    with running_server(sqlite_deployment, GOVSIGN_VERIFY_RATE_PER_SECOND="1000") as base:
        yield base


@pytest.fixture(scope="module")
def tokens(sqlite_deployment: Deployment) -> dict[str, str]:
    def account(command: str, serial: str) -> str:
        return sqlite_deployment.cli("account", command, "--cert", serial).stdout.strip().splitlines()[-1]

    return {
        OFFICIAL: account("create-official", issue_in_hsm(sqlite_deployment)),
        CLERK: account(
            "create-clerk", issue_in_hsm(sqlite_deployment, "organisation", "seal-so-tu-phap-ha-noi.json")
        ),
        **{role: administrator_token(sqlite_deployment, role) for role in ADMINISTRATORS},
    }


def _routes(base: str) -> list[tuple[str, str]]:
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


def _call(base: str, method: str, path: str, token: str | None) -> httpx.Response:
    concrete = re.sub(r"\{[^}]+\}", "1", path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{base}{concrete}", headers=headers, timeout=60)


def test_every_route_has_a_decided_access(server: str) -> None:
    undecided = sorted(set(_routes(server)) - set(ACCESS))
    assert not undecided, f"routes whose access nobody decided: {undecided}"


def test_each_caller_is_allowed_401_or_403_as_the_route_declares(server: str, tokens: dict[str, str]) -> None:
    wrong: list[str] = []
    for method, path in _routes(server):
        access = ACCESS[(method, path)]
        anonymous = _call(server, method, path, None).status_code
        unknown = _call(server, method, path, "gsk_not-a-token").status_code
        outcomes: dict[str, tuple[int, int | str]]  # who -> (status seen, status or "allowed" expected)
        if access == PUBLIC:
            outcomes = {"anonymous": (anonymous, "allowed"), "unknown token": (unknown, "allowed")}
        else:
            outcomes = {"anonymous": (anonymous, 401), "unknown token": (unknown, 401)}
        for caller in CALLERS:
            status = _call(server, method, path, tokens[caller]).status_code
            expected: int | str = "allowed" if access == PUBLIC or caller in access else 403
            outcomes[caller] = (status, expected)
        for who, (status, expected) in outcomes.items():
            allowed = status not in (401, 403) and status < 500
            if (expected == "allowed" and not allowed) or (expected != "allowed" and status != expected):
                wrong.append(f"{method} {path} as {who}: {status}, expected {expected}")
    assert not wrong, "\n".join(wrong)
