"""`govsign serve` over real HTTP on 127.0.0.1: health and the AIA issuer certificates."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import PUBLIC_URL, Deployment, running_server


@pytest.fixture(scope="module")
def server(sqlite_deployment: Deployment) -> Iterator[str]:
    with running_server(sqlite_deployment) as base:
        yield base


def test_healthz_reports_database_and_hsm(server: str) -> None:
    response = httpx.get(f"{server}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "hsm": "ok"}


def test_aia_urls_in_certificates_serve_the_issuer_certificates(
    server: str, sqlite_deployment: Deployment
) -> None:
    issuing, root = sqlite_deployment.issuing, sqlite_deployment.root
    urls = {
        access.access_location.value
        for access in issuing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    }
    assert urls == {f"{PUBLIC_URL}/pki/ca/govsign-root.crt"}
    for name, expected in (("govsign-root", root), ("govsign-ca", issuing)):
        response = httpx.get(f"{server}/pki/ca/{name}.crt")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pkix-cert"
        assert "max-age" in response.headers["cache-control"]
        assert response.content == expected.public_bytes(serialization.Encoding.DER)
        parsed = subprocess.run(
            ["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
            input=response.content,
            capture_output=True,
            check=True,
        )
        assert b"Ch\\C3\\ADnh ph\\E1\\BB\\A7" in parsed.stdout or "Chính phủ".encode() in parsed.stdout
        again = httpx.get(f"{server}/pki/ca/{name}.crt", headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304


@pytest.mark.parametrize("name", ["nobody", "a" * 100])
def test_unknown_ca_is_404_with_a_message(server: str, name: str) -> None:
    response = httpx.get(f"{server}/pki/ca/{name}.crt")
    assert response.status_code == 404
    assert "no CA named" in response.json()["detail"]


def test_path_traversal_finds_nothing(server: str) -> None:
    assert httpx.get(f"{server}/pki/ca/..%2F..%2Fetc%2Fpasswd.crt").status_code == 404


def test_pages_and_api_carry_security_headers_and_the_protocol_routes_do_not(server: str) -> None:
    for path in ("/verify", "/api/v1/trust-anchors", "/healthz", "/no-such-page"):
        headers = httpx.get(f"{server}{path}").headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    protocol = httpx.get(f"{server}/pki/ca/govsign-root.crt")
    assert protocol.status_code == 200 and "content-security-policy" not in protocol.headers
