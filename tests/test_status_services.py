"""Revocation status and time-stamps over real HTTP, judged by openssl (ocsp, crl, verify, ts), pkilint and
pyHanko. Two server processes share each database, so "every process within a second" is tested, not assumed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca.hsm import KeyAlgorithm
from ca.issuance import GenerateInHsm, issue_certificate
from ca.ocsp import OcspResponder, RateLimiter
from ca.profiles import CertificateKind, parse_request
from ca.status import LEASE_SECONDS
from ca.store import CertificateRecord
from tests.conftest import DEMO, Deployment, administrator_token, running_server, server_logs

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


@pytest.fixture(scope="module")
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


def _status_line(output: str, leaf: Path) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"{leaf}:"))


def test_openssl_ocsp_says_good_then_revoked_with_reason_within_one_second_in_another_process(
    servers: Servers,
) -> None:
    serial, leaf = servers.issue()
    first = openssl_ocsp(servers, servers.first, "-cert", str(leaf))
    assert "Response verify OK" in first and _status_line(first, leaf).endswith(": good"), (
        first + server_logs()
    )
    assert "WARNING: no nonce" not in first  # the nonce came back (RFC 8954)
    servers.deployment.cli("ca", "revoke", serial, "--reason", "retired")
    revoked_at = time.monotonic()
    for base in (servers.second, servers.first):
        while True:
            output = openssl_ocsp(servers, base, "-cert", str(leaf), "-no_nonce")
            if _status_line(output, leaf).endswith(": revoked"):
                break
            assert time.monotonic() - revoked_at < 1.0, f"still not revoked after 1 s at {base}:\n{output}"
            time.sleep(0.05)
        assert "Reason: cessationOfOperation" in output and "Response verify OK" in output


def test_ocsp_get_is_cacheable_and_answers_like_post(servers: Servers) -> None:
    _, leaf = servers.issue()
    request_file = servers.folder / "request.der"
    subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            str(servers.issuing_pem),
            "-cert",
            str(leaf),
            "-no_nonce",
            "-reqout",
            str(request_file),
        ],
        capture_output=True,
        check=True,
    )
    encoded = urllib.parse.quote(base64.b64encode(request_file.read_bytes()).decode(), safe="")
    response = httpx.get(f"{servers.second}/pki/ocsp/{encoded}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    assert "max-age=" in response.headers["cache-control"] and response.headers["etag"]
    assert response.headers["last-modified"] and response.headers["expires"]
    assert (
        httpx.get(
            f"{servers.second}/pki/ocsp/{encoded}", headers={"If-None-Match": response.headers["etag"]}
        ).status_code
        == 304
    )
    response_file = servers.folder / "response.der"
    response_file.write_bytes(response.content)
    checked = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-respin",
            str(response_file),
            "-issuer",
            str(servers.issuing_pem),
            "-cert",
            str(leaf),
            "-CAfile",
            str(servers.deployment.chain_pem),
            "-no_nonce",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Response verify OK" in checked.stderr + checked.stdout and ": good" in checked.stdout


def test_unknown_serial_is_unknown_and_another_issuer_is_unauthorized(servers: Servers) -> None:
    unknown = openssl_ocsp(servers, servers.first, "-serial", "0x1234567890abcdef1234")
    assert "0x1234567890abcdef1234: unknown" in unknown and "Response verify OK" in unknown
    other_issuer = openssl_ocsp(servers, servers.first, "-serial", "0x01", issuer=servers.root_pem)
    assert "unauthorized" in other_issuer.lower()


@pytest.mark.parametrize("body", [b"garbage", b"\x30\x03\x02\x01\x01", b""])
def test_malformed_ocsp_request_gets_malformed_request_not_a_500(servers: Servers, body: bytes) -> None:
    response = httpx.post(
        f"{servers.first}/pki/ocsp", content=body, headers={"Content-Type": "application/ocsp-request"}
    )
    assert response.status_code == 200
    assert asn1_ocsp.OCSPResponse.load(response.content)["response_status"].native == "malformed_request"
    assert httpx.get(f"{servers.first}/pki/ocsp/%%%not-base64").status_code == 200


@pytest.mark.parametrize("path", ["/pki/ocsp", "/pki/tsa"])
def test_ten_megabyte_body_is_413(servers: Servers, path: str) -> None:
    response = httpx.post(f"{servers.first}{path}", content=b"\x30" * (10 * 1024 * 1024))
    assert response.status_code == 413


def test_unknown_ca_crl_is_404(servers: Servers) -> None:
    assert httpx.get(f"{servers.first}/pki/crl/nobody.crl").status_code == 404


def _fetch_crl(
    servers: Servers, base: str, name: str = "govsign-ca"
) -> tuple[Path, x509.CertificateRevocationList]:
    response = httpx.get(f"{base}/pki/crl/{name}.crl")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pkix-crl"
    path = servers.folder / f"{name}.crl"
    path.write_bytes(response.content)
    return path, x509.load_der_x509_crl(response.content)


def test_revocation_reaches_the_published_crl_and_openssl_verify_refuses_the_certificate(
    servers: Servers,
) -> None:
    good_serial, good = servers.issue()
    revoked_serial, revoked = servers.issue()
    servers.deployment.cli(
        "ca",
        "revoke",
        revoked_serial,
        "--reason",
        "keyCompromise",
        "--invalidity-date",
        "2026-01-02T03:04:05+07:00",
    )
    # The rule is 5 minutes. The test servers run maintenance every second, but the maintenance lease may
    # be held by another server of the session (maintenance every 30 s), or by one that stopped: another
    # takes over when the lease runs out (ca.status.LEASE_SECONDS), so that is what a busy CI may wait.
    deadline = time.monotonic() + LEASE_SECONDS + 60
    while True:
        crl_path, crl = _fetch_crl(servers, servers.second)
        entry = crl.get_revoked_certificate_by_serial_number(int(revoked_serial, 16))
        if entry is not None:
            break
        assert time.monotonic() < deadline, "the revocation did not reach the CRL"
        time.sleep(0.5)
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.key_compromise
    )
    invalidity = entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc
    assert invalidity.isoformat() == "2026-01-01T20:04:05+00:00"
    assert crl.next_update_utc is not None and crl.last_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc <= dt.timedelta(days=7)
    verified = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            str(crl_path),
            "-CAfile",
            str(servers.deployment.chain_pem),
            "-noout",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "verify OK" in verified.stdout + verified.stderr
    pem_crl = servers.folder / "crl.pem"
    subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(crl_path), "-out", str(pem_crl)], check=True
    )
    _, root_crl = _fetch_crl(servers, servers.first, "govsign-root")
    root_crl_pem = servers.folder / "root-crl.pem"
    root_crl_pem.write_bytes(root_crl.public_bytes(serialization.Encoding.PEM))

    def openssl_verify(leaf: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "openssl",
                "verify",
                "-crl_check_all",
                "-CAfile",
                str(servers.deployment.chain_pem),
                "-CRLfile",
                str(pem_crl),
                "-CRLfile",
                str(root_crl_pem),
                str(leaf),
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    refused = openssl_verify(revoked)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    accepted = openssl_verify(good)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert good_serial != revoked_serial


def test_crl_numbers_only_grow_across_processes_and_restarts(servers: Servers) -> None:
    _, before = _fetch_crl(servers, servers.first)
    number_before = before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "govsign", "ca", "crl"],
            env=servers.deployment.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    numbers = sorted(int(process.communicate(timeout=120)[0].split()[1].rstrip(":")) for process in commands)
    assert len(set(numbers)) == 3 and numbers[0] > number_before
    _, after = _fetch_crl(servers, servers.second)
    assert after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number >= numbers[-1]


def test_pkilint_finds_no_error_in_crls_and_ocsp_responses(servers: Servers) -> None:
    crl_path, _ = _fetch_crl(servers, servers.first)
    root_crl_path, _ = _fetch_crl(servers, servers.first, "govsign-root")
    for path, kind in ((crl_path, "CRL"), (root_crl_path, "ARL")):
        result = subprocess.run(
            [str(BIN / "lint_crl"), "lint", "-s", "ERROR", "-t", kind, "-p", "PKIX", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout
    good_serial, good = servers.issue()
    revoked_serial, revoked = servers.issue()
    servers.deployment.cli("ca", "revoke", revoked_serial, "--reason", "affiliationChanged")
    cases = {"good": ["-cert", str(good)], "revoked": ["-cert", str(revoked)], "unknown": ["-serial", "0x77"]}
    for name, selector in cases.items():
        response_path = servers.folder / f"ocsp-{name}.der"
        subprocess.run(
            [
                "openssl",
                "ocsp",
                "-issuer",
                str(servers.issuing_pem),
                *selector,
                "-url",
                f"{servers.first}/pki/ocsp",
                "-respout",
                str(response_path),
                "-noverify",
            ],
            capture_output=True,
            check=True,
        )
        result = subprocess.run(
            [str(BIN / "lint_ocsp_response"), "lint", "-s", "ERROR", str(response_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {result.stdout}"
    assert good_serial != revoked_serial


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


def test_fresh_signatures_are_rate_limited_per_client(deployment: Deployment) -> None:
    responder = OcspResponder(deployment.authority, fresh_signatures=RateLimiter(rate=0.001, burst=2))
    request = asn1_ocsp.OCSPRequest(
        {"tbs_request": {"request_list": [{"req_cert": responder.cert_id(0x1234)}]}}
    ).dump()
    statuses = [
        asn1_ocsp.OCSPResponse.load(responder.respond(request, client="203.0.113.9").der)[
            "response_status"
        ].native
        for _ in range(3)
    ]
    assert statuses == ["successful", "successful", "try_later"]
    other = responder.respond(request, client="203.0.113.10").der
    assert asn1_ocsp.OCSPResponse.load(other)["response_status"].native == "successful"


def test_revoking_twice_is_refused_except_to_escalate_to_key_compromise(servers: Servers) -> None:
    serial, _ = servers.issue()
    servers.deployment.cli("ca", "revoke", serial, "--reason", "moved-post")
    again = servers.deployment.cli("ca", "revoke", serial, "--reason", "retired", check=False)
    assert again.returncode == 5 and "already revoked" in again.stderr
    servers.deployment.cli("ca", "revoke", serial, "--reason", "key-compromise")
    with servers.deployment.authority.database.transaction() as session:
        record = session.query(CertificateRecord).filter_by(serial=serial).one()
        assert record.revocation_reason == "keyCompromise"
    unknown_reason = servers.deployment.cli("ca", "revoke", serial, "--reason", "bored", check=False)
    assert unknown_reason.returncode == 2 and "unknown revocation reason" in unknown_reason.stderr


def test_ocsp_signer_is_renewed_before_it_expires_and_responses_use_the_new_one(
    servers: Servers, tmp_path: Path
) -> None:
    """With a margin longer than the signer's life, one maintenance round must renew it (new key, new
    certificate); responses signed afterwards carry the new signer and still verify with openssl."""
    from ca.status import StatusServices

    services = StatusServices(servers.deployment.authority, signer_renewal_margin=dt.timedelta(days=400))
    old_signer = services.ocsp.signer()
    renewed = services._renew_signer_if_due()
    assert renewed is not None
    new_signer = services.ocsp.signer()
    assert format(new_signer.certificate.serial_number, "x") == renewed
    assert new_signer.key_id != old_signer.key_id
    serial, leaf = servers.issue()
    response = tmp_path / "response.der"
    response.write_bytes(services.ocsp_response(serial))
    checked = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-respin",
            str(response),
            "-issuer",
            str(servers.issuing_pem),
            "-cert",
            str(leaf),
            "-CAfile",
            str(servers.deployment.chain_pem),
            "-no_nonce",
            "-resp_text",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Response verify OK" in checked.stderr and ": good" in checked.stdout
    assert "govsign OCSP responder" in checked.stdout
    embedded = asn1_ocsp.OCSPResponse.load(response.read_bytes()).basic_ocsp_response["certs"][0]
    assert embedded.serial_number == new_signer.certificate.serial_number


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
    services.ocsp.signer()  # loaded while the HSM is there, as in a running server
    request = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [{"req_cert": services.ocsp.cert_id(0xABCDEF)}],
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


def test_registration_officer_revokes_over_http_and_ocsp_says_so_within_one_second(servers: Servers) -> None:
    """POST /api/v1/certificates/{serial}/revoke through one server process; OCSP from the other."""
    officer = administrator_token(servers.deployment, "ra_officer")
    auditor = administrator_token(servers.deployment, "auditor")
    serial, leaf = servers.issue()
    url = f"{servers.first}/api/v1/certificates/{serial}/revoke"
    assert httpx.post(url, json={"reason": "retired"}).status_code == 401
    refused = httpx.post(url, json={"reason": "retired"}, headers={"Authorization": f"Bearer {auditor}"})
    assert refused.status_code == 403 and "ra_officer" in refused.json()["detail"]
    bad = httpx.post(url, json={"reason": "bored"}, headers={"Authorization": f"Bearer {officer}"})
    assert bad.status_code == 422 and "unknown revocation reason" in bad.json()["detail"]
    answer = httpx.post(
        url,
        json={"reason": "key-compromised", "invalidity_date": "2026-11-01T08:00:00+07:00"},
        headers={"Authorization": f"Bearer {officer}"},
    )
    revoked_at = time.monotonic()
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "revoked" and answer.json()["revocation_reason"] == "keyCompromise"
    while True:
        output = openssl_ocsp(servers, servers.second, "-cert", str(leaf), "-no_nonce")
        if _status_line(output, leaf).endswith(": revoked"):
            break
        assert time.monotonic() - revoked_at < 1.0, output
        time.sleep(0.05)
    assert "Reason: keyCompromise" in output
    again = httpx.post(url, json={"reason": "retired"}, headers={"Authorization": f"Bearer {officer}"})
    assert again.status_code == 409
    shown = httpx.get(
        f"{servers.first}/api/v1/certificates/{serial}", headers={"Authorization": f"Bearer {auditor}"}
    )
    assert shown.json()["invalidity_date"].startswith("2026-11-01T01:00:00")


def test_ocsp_get_served_from_memory_turns_revoked_within_one_second(servers: Servers) -> None:
    """The GET fast path answers from each process's memory; a revocation still shows within a second."""
    serial, leaf = servers.issue()
    request_file = servers.folder / f"{serial}.req"
    subprocess.run(
        [
            *("openssl", "ocsp", "-issuer", str(servers.issuing_pem), "-cert", str(leaf)),
            *("-no_nonce", "-reqout", str(request_file)),
        ],
        capture_output=True,
        check=True,
    )
    encoded = urllib.parse.quote(base64.b64encode(request_file.read_bytes()).decode(), safe="")

    def status_by_get(base: str) -> str:
        response_file = servers.folder / f"{serial}.resp"
        response_file.write_bytes(httpx.get(f"{base}/pki/ocsp/{encoded}").content)
        checked = subprocess.run(
            [
                *("openssl", "ocsp", "-respin", str(response_file), "-issuer", str(servers.issuing_pem)),
                *("-cert", str(leaf), "-CAfile", str(servers.deployment.chain_pem), "-no_nonce"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert "Response verify OK" in checked.stderr + checked.stdout, checked.stderr
        return _status_line(checked.stdout, leaf).rsplit(": ", 1)[1]

    for base in (servers.first, servers.second):
        assert status_by_get(base) == "good"
        assert status_by_get(base) == "good"  # now from memory
    servers.deployment.cli("ca", "revoke", serial, "--reason", "moved-post")
    revoked_at = time.monotonic()
    for base in (servers.first, servers.second):
        while status_by_get(base) != "revoked":
            assert time.monotonic() - revoked_at < 1.0, f"GET still not revoked after 1 s at {base}"
            time.sleep(0.05)
