"""The time-stamping authority over real HTTP, judged by openssl ts and pyHanko; and an HSM outage, which
OCSP answers with tryLater and the TSA with systemFailure until the token is back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca.store import CertificateRecord
from tests.conftest import Deployment
from tests.status_servers import Servers


def test_openssl_ts_verifies_a_time_stamp_from_our_tsa(servers: Servers) -> None:
    data = servers.folder / "document.txt"
    data.write_text("Phiếu lý lịch tư pháp số 1234/2026", encoding="utf-8")
    query, reply = servers.folder / "query.tsq", servers.folder / "reply.tsr"
    subprocess.run(
        ["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query)], check=True
    )
    response = httpx.post(
        f"{servers.first}/pki/tsa",
        content=query.read_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/timestamp-reply"
    reply.write_bytes(response.content)
    with servers.deployment.authority.database.transaction() as session:
        tsa_der = session.query(CertificateRecord).filter_by(profile="tsa").one().der
    tsa_pem = servers.folder / "tsa.pem"
    tsa_pem.write_bytes(x509.load_der_x509_certificate(tsa_der).public_bytes(serialization.Encoding.PEM))
    verified = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            str(data),
            "-in",
            str(reply),
            "-CAfile",
            str(servers.deployment.chain_pem),
            "-untrusted",
            str(tsa_pem),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Verification: OK" in verified.stdout, verified.stdout + verified.stderr
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(reply), "-text"], capture_output=True, text=True, check=True
    ).stdout
    assert "Policy OID: 0.4.0.2023.1.1" in text and "Accuracy: 0x01 seconds" in text and "Nonce: 0x" in text


@pytest.mark.parametrize("digest", ["-sha1", "-md5"])
def test_tsa_refuses_weak_imprints_with_bad_alg(servers: Servers, digest: str) -> None:
    data = servers.folder / "weak.txt"
    data.write_text("x")
    query = servers.folder / f"weak{digest}.tsq"
    subprocess.run(["openssl", "ts", "-query", "-data", str(data), digest, "-out", str(query)], check=True)
    response = httpx.post(f"{servers.first}/pki/tsa", content=query.read_bytes())
    assert response.status_code == 200
    reply = servers.folder / f"weak{digest}.tsr"
    reply.write_bytes(response.content)
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(reply), "-text"], capture_output=True, text=True, check=True
    ).stdout
    assert "Status: Rejected." in text
    assert "Failure info: unrecognized or unsupported algorithm identifier" in text  # badAlg


def test_pyhanko_http_timestamper_gets_a_token_it_validates(servers: Servers) -> None:
    import asyncio
    import hashlib

    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

    digest = hashlib.sha256(b"govsign").digest()
    roots = [asn1_x509.Certificate.load(servers.deployment.root.public_bytes(serialization.Encoding.DER))]
    others = [asn1_x509.Certificate.load(servers.deployment.issuing.public_bytes(serialization.Encoding.DER))]
    context = ValidationContext(
        trust_roots=roots, other_certs=others, allow_fetching=False, revocation_mode="soft-fail"
    )

    async def stamp_and_validate() -> TimestampSignatureStatus:
        token = await HTTPTimeStamper(f"{servers.first}/pki/tsa").async_timestamp(digest, "sha256")
        return TimestampSignatureStatus(
            **await validate_tst_signed_data(token["content"], context, lambda _algorithm: digest)
        )

    status = asyncio.run(stamp_and_validate())
    assert status.intact and status.valid and status.trusted, status.summary()


def test_hsm_outage_gives_try_later_and_system_failure_then_recovers(
    deployment: Deployment, tmp_path: Path
) -> None:
    """SCENARIOS.md §7: the HSM disappears (token folder moved, library finalised); OCSP answers tryLater,
    the TSA systemFailure, nothing raises, and both work again once the token is back."""
    import ctypes
    import hashlib

    from asn1crypto import tsp as asn1_tsp

    from ca.status import StatusServices
    from govsign.config.settings import DEFAULT_PKCS11_MODULE
    from tests.conftest import SOFTHSM_CONF

    services = StatusServices(deployment.authority)
    services.ocsp.signers.of(
        services.ocsp.current_issuer()
    )  # loaded while the HSM is there, as in a running server
    request = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [{"req_cert": services.ocsp.current_issuer().cert_id(0xABCDEF)}],
                "request_extensions": [{"extn_id": "nonce", "extn_value": b"0123456789abcdef"}],
            }
        }
    ).dump()
    query = asn1_tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(b"x").digest(),
            },
            "cert_req": True,
        }
    ).dump()
    tokens = SOFTHSM_CONF.parent / "tokens"
    parked = tokens.with_name("tokens.parked")
    tokens.rename(parked)
    try:
        assert ctypes.CDLL(DEFAULT_PKCS11_MODULE).C_Finalize(None) == 0
        ocsp_status = asn1_ocsp.OCSPResponse.load(services.ocsp.respond(request, client="t").der)[
            "response_status"
        ]
        assert ocsp_status.native == "try_later"
        reply = tmp_path / "reply.tsr"
        reply.write_bytes(services.tsa.respond(query))
        text = subprocess.run(
            ["openssl", "ts", "-reply", "-in", str(reply), "-text"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert (
            "Status: Rejected." in text
            and "Failure info: the request cannot be handled due to system failure" in text
        )
    finally:
        parked.rename(tokens)
    recovered = asn1_ocsp.OCSPResponse.load(services.ocsp.respond(request, client="t").der)["response_status"]
    assert recovered.native == "successful"
    reply.write_bytes(services.tsa.respond(query))
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(reply), "-text"], capture_output=True, text=True, check=True
    ).stdout
    assert "Status: Granted." in text
