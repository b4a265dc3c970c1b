"""Helpers of the CSC API tests: officials with a token and a credential, calls, the error JSON, and
`openssl pkeyutl -verify` as the judge of raw signatures."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from ca.signing_keys import subscriber_key
from ca.store import AuditEntry
from govsign.access.accounts import authenticate
from tests.conftest import HOLDER_PIN, Deployment, issue_in_hsm

SHA256 = "2.16.840.1.101.3.4.2.1"
SHA256_RSA, RSASSA_PSS, ECDSA_SHA256 = "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.10", "1.2.840.10045.4.3.2"


@dataclass(frozen=True)
class Official:
    serial: str
    token: str
    account_id: int
    credential_id: str
    certificate_pem: Path


def new_official(deployment: Deployment, tmp: Path, algorithm: str = "ec-p256") -> Official:
    serial = issue_in_hsm(deployment, algorithm=algorithm)
    token = deployment.cli("account", "create-official", "--cert", serial).stdout.strip().splitlines()[-1]
    key = subscriber_key(deployment.authority, serial)
    pem = tmp / f"{serial}.pem"
    pem.write_bytes(key.certificate.public_bytes(Encoding.PEM))
    return Official(serial, token, authenticate(deployment.authority, token).id, key.key_id, pem)


def officials_of(deployment: Deployment, folder: Path) -> dict[str, Official]:
    """An RSA-2048 and a P-256 official, each with their account and chosen PIN."""
    return {algorithm: new_official(deployment, folder, algorithm) for algorithm in ("rsa2048", "ec-p256")}


def call(base: str, path: str, token: str | None, body: Mapping[str, object]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{base}/csc/{path}", json=body, headers=headers, timeout=60)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def authorize(
    base: str, official: Official, hashes: list[bytes], pin: str = HOLDER_PIN, **extra: object
) -> str:
    body = {
        "credentialID": official.credential_id,
        "numSignatures": len(hashes),
        "hashes": [b64(h) for h in hashes],
    }
    answer = call(base, "v2/credentials/authorize", official.token, {**body, "PIN": pin, **extra})
    assert answer.status_code == 200, answer.text
    assert 0 < answer.json()["expiresIn"] <= 300
    return str(answer.json()["SAD"])


def sign_hash(
    base: str, official: Official, sad: str, hashes: list[bytes], **extra: object
) -> httpx.Response:
    body = {"credentialID": official.credential_id, "SAD": sad, "hashes": [b64(h) for h in hashes]}
    return call(base, "v2/signatures/signHash", official.token, {"signAlgo": ECDSA_SHA256, **body, **extra})


def assert_csc_error(answer: httpx.Response, status: int, error: str, words: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error, body
    assert words in body["error_description"], body


def openssl_verifies(
    certificate: Path, digest: bytes, signature: bytes, options: list[str], tmp: Path
) -> bool:
    (tmp / "digest.bin").write_bytes(digest)
    (tmp / "signature.bin").write_bytes(signature)
    pkeyopts = [arg for option in options for arg in ("-pkeyopt", option)]
    files = ["-in", str(tmp / "digest.bin"), "-sigfile", str(tmp / "signature.bin")]
    result = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-certin", "-inkey", str(certificate), *files, *pkeyopts],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and "Signature Verified Successfully" in result.stdout


def actor_of(official: Official) -> str:
    return f"account:{official.account_id}:"


def entries_of(deployment: Deployment, action: str, official: Official) -> list[AuditEntry]:
    with deployment.authority.database.transaction() as session:
        query = select(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.actor.startswith(actor_of(official))
        )
        entries = list(session.execute(query.order_by(AuditEntry.seq)).scalars())
        session.expunge_all()
        return entries
