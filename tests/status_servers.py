"""What the status-service modules (OCSP, CRL, TSA) share: two `govsign serve` processes on one deployment,
so that "every process within a second" is tested, not assumed, and the openssl calls that judge them.

The ``servers`` fixture is session-wide (one pair per database backend, registered in tests/conftest.py's
``pytest_plugins``): a server takes seconds to start, and the three modules need the same two.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca.hsm import KeyAlgorithm
from ca.issuance import GenerateInHsm, issue_certificate
from ca.profiles import CertificateKind, parse_request
from tests.conftest import DEMO, Deployment, running_server

__all__ = [
    "BIN",
    "Servers",
    "fetch_crl",
    "ocsp_get_request",
    "openssl_ocsp",
    "read_ocsp_response",
    "servers",
    "status_line",
]

BIN = Path(sys.executable).parent
OFFICIAL = json.loads((DEMO / "official-nguyen-van-anh.json").read_text(encoding="utf-8"))


@dataclass
class Servers:
    """Two `govsign serve` processes on one deployment, and PEM files for openssl."""

    deployment: Deployment
    first: str
    second: str
    folder: Path

    @property
    def issuing_pem(self) -> Path:
        return self._pem("issuing.pem", self.deployment.issuing)

    @property
    def root_pem(self) -> Path:
        return self._pem("root.pem", self.deployment.root)

    def _pem(self, name: str, certificate: x509.Certificate) -> Path:
        path = self.folder / name
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return path

    def issue(self) -> tuple[str, Path]:
        request = parse_request("individual", OFFICIAL)
        issued = issue_certificate(
            self.deployment.authority,
            CertificateKind.INDIVIDUAL,
            request,
            GenerateInHsm(KeyAlgorithm.EC_P256),
            actor="status-test",
        )
        path = self.folder / f"{issued.serial_hex}.pem"
        path.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
        return issued.serial_hex, path


@pytest.fixture(scope="session")
def servers(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with (
        running_server(deployment, GOVSIGN_MAINTENANCE_INTERVAL_SECONDS="1") as first,
        running_server(deployment, GOVSIGN_MAINTENANCE_INTERVAL_SECONDS="1") as second,
    ):
        yield Servers(deployment, first, second, tmp_path_factory.mktemp(f"status-{deployment.backend}"))


def openssl_ocsp(servers: Servers, base: str, *arguments: str, issuer: Path | None = None) -> str:
    """`openssl ocsp` against ``base`` for ``arguments`` (-cert FILE or -serial N, options); stdout + stderr."""
    result = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            str(issuer or servers.issuing_pem),
            *arguments,
            "-url",
            f"{base}/pki/ocsp",
            "-CAfile",
            str(servers.deployment.chain_pem),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return result.stdout + result.stderr


def status_line(output: str, leaf: Path) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"{leaf}:"))


def ocsp_get_request(servers: Servers, leaf: Path, request_file: Path) -> str:
    """A request for ``leaf`` without a nonce, made by openssl, as the URL path segment of an OCSP GET."""
    subprocess.run(
        [
            *("openssl", "ocsp", "-issuer", str(servers.issuing_pem), "-cert", str(leaf)),
            *("-no_nonce", "-reqout", str(request_file)),
        ],
        capture_output=True,
        check=True,
    )
    return urllib.parse.quote(base64.b64encode(request_file.read_bytes()).decode(), safe="")


def read_ocsp_response(
    servers: Servers, response_file: Path, leaf: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """`openssl ocsp -respin`: the response in ``response_file`` checked for ``leaf`` against the chain."""
    return subprocess.run(
        [
            *("openssl", "ocsp", "-respin", str(response_file), "-issuer", str(servers.issuing_pem)),
            *("-cert", str(leaf), "-CAfile", str(servers.deployment.chain_pem), "-no_nonce", *options),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def fetch_crl(
    servers: Servers, base: str, name: str = "govsign-ca"
) -> tuple[Path, x509.CertificateRevocationList]:
    response = httpx.get(f"{base}/pki/crl/{name}.crl")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pkix-crl"
    path = servers.folder / f"{name}.crl"
    path.write_bytes(response.content)
    return path, x509.load_der_x509_crl(response.content)
