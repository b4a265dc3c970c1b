"""OCSP over real HTTP, judged by openssl: good, revoked within a second in another process (CLI and API
revocations), GET caching, refusals, the per-client rate of fresh signatures and the signer's renewal."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from pathlib import Path

import httpx
import pytest
from asn1crypto import ocsp as asn1_ocsp

from ca.ocsp import OcspResponder, RateLimiter
from ca.store import CertificateRecord
from tests.conftest import Deployment, administrator_token, server_logs
from tests.status_servers import Servers, ocsp_get_request, openssl_ocsp, read_ocsp_response, status_line


def test_openssl_ocsp_says_good_then_revoked_with_reason_within_one_second_in_another_process(
    servers: Servers,
) -> None:
    serial, leaf = servers.issue()
    first = openssl_ocsp(servers, servers.first, "-cert", str(leaf))
    assert "Response verify OK" in first and status_line(first, leaf).endswith(": good"), (
        first + server_logs()
    )
    assert "WARNING: no nonce" not in first  # the nonce came back (RFC 8954)
    servers.deployment.cli("ca", "revoke", serial, "--reason", "retired")
    revoked_at = time.monotonic()
    for base in (servers.second, servers.first):
        while True:
            output = openssl_ocsp(servers, base, "-cert", str(leaf), "-no_nonce")
            if status_line(output, leaf).endswith(": revoked"):
                break
            assert time.monotonic() - revoked_at < 1.0, f"still not revoked after 1 s at {base}:\n{output}"
            time.sleep(0.05)
        assert "Reason: cessationOfOperation" in output and "Response verify OK" in output


def test_ocsp_get_is_cacheable_and_answers_like_post(servers: Servers) -> None:
    """A cache may keep the answer but must ask every time (a max-age would let it serve "good" past the
    one-second revocation promise); the ETag makes asking cheap and changes the moment the answer does."""
    serial, leaf = servers.issue()
    encoded = ocsp_get_request(servers, leaf, servers.folder / "request.der")
    response = httpx.get(f"{servers.second}/pki/ocsp/{encoded}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    directives = {d.strip() for d in response.headers["cache-control"].split(",")}
    assert {"public", "no-cache", "max-age=0"} <= directives and response.headers["etag"]
    assert response.headers["last-modified"] and response.headers["expires"]
    assert email.utils.parsedate_to_datetime(response.headers["expires"]) <= dt.datetime.now(dt.UTC)
    assert (
        httpx.get(
            f"{servers.second}/pki/ocsp/{encoded}", headers={"If-None-Match": response.headers["etag"]}
        ).status_code
        == 304
    )
    response_file = servers.folder / "response.der"
    response_file.write_bytes(response.content)
    checked = read_ocsp_response(servers, response_file, leaf)
    assert "Response verify OK" in checked.stderr + checked.stdout and ": good" in checked.stdout
    servers.deployment.cli("ca", "revoke", serial, "--reason", "retired")
    deadline = time.monotonic() + 1.0
    while True:  # a cache revalidating with the old ETag gets the new answer, not a 304
        again = httpx.get(
            f"{servers.second}/pki/ocsp/{encoded}", headers={"If-None-Match": response.headers["etag"]}
        )
        if again.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert again.status_code == 200 and again.headers["etag"] != response.headers["etag"]
    response_file.write_bytes(again.content)
    assert ": revoked" in read_ocsp_response(servers, response_file, leaf).stdout


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


def test_fresh_signatures_are_rate_limited_per_client(deployment: Deployment) -> None:
    responder = OcspResponder(deployment.authority, fresh_signatures=RateLimiter(rate=0.001, burst=2))
    request = asn1_ocsp.OCSPRequest(
        {"tbs_request": {"request_list": [{"req_cert": responder.current_issuer().cert_id(0x1234)}]}}
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
    issuer = services.ocsp.current_issuer()
    old_signer = services.ocsp.signers.of(issuer)
    renewed = services._renew_signer_if_due(issuer.ca)
    assert renewed is not None
    new_signer = services.ocsp.signers.of(issuer)
    assert format(new_signer.certificate.serial_number, "x") == renewed
    assert new_signer.key_id != old_signer.key_id
    serial, leaf = servers.issue()
    response = tmp_path / "response.der"
    response.write_bytes(services.ocsp_response(serial))
    checked = read_ocsp_response(servers, response, leaf, "-resp_text")
    assert "Response verify OK" in checked.stderr and ": good" in checked.stdout
    assert "govsign OCSP responder" in checked.stdout
    embedded = asn1_ocsp.OCSPResponse.load(response.read_bytes()).basic_ocsp_response["certs"][0]
    assert embedded.serial_number == new_signer.certificate.serial_number


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
        if status_line(output, leaf).endswith(": revoked"):
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
    encoded = ocsp_get_request(servers, leaf, servers.folder / f"{serial}.req")

    def status_by_get(base: str) -> str:
        response_file = servers.folder / f"{serial}.resp"
        response_file.write_bytes(httpx.get(f"{base}/pki/ocsp/{encoded}").content)
        checked = read_ocsp_response(servers, response_file, leaf)
        assert "Response verify OK" in checked.stderr + checked.stdout, checked.stderr
        return status_line(checked.stdout, leaf).rsplit(": ", 1)[1]

    for base in (servers.first, servers.second):
        assert status_by_get(base) == "good"
        assert status_by_get(base) == "good"  # now from memory
    servers.deployment.cli("ca", "revoke", serial, "--reason", "moved-post")
    revoked_at = time.monotonic()
    for base in (servers.first, servers.second):
        while status_by_get(base) != "revoked":
            assert time.monotonic() - revoked_at < 1.0, f"GET still not revoked after 1 s at {base}"
            time.sleep(0.05)
