"""Operations can see the service: Prometheus metrics from every worker, JSON logs and an access log with
request ids that reach the audit log, liveness and readiness, and a 2-worker start that never kills a
worker (issue 14, item 5)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asn1crypto import tsp as asn1_tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from ca.errors import HsmUnavailable
from ca.store import AuditEntry, CaRecord, CrlShard, CrlState, certificate_by_serial
from govsign.api.operations import readiness
from tests.conftest import (
    PROJECT,
    SESSION_ROOT,
    Deployment,
    administrator_token,
    free_port,
    issue_in_hsm,
    running_server,
)

SERVED_ROUTES = {
    "issuance": ("POST", "/api/v1/certificates"),
    "signing": ("POST", "/api/v1/sign"),
    "validation": ("POST", "/api/v1/verify"),
    "OCSP": ("GET", "/pki/ocsp/{encoded:path}"),
    "TSA": ("POST", "/pki/tsa"),
}


@pytest.fixture(scope="module")
def server(sqlite_deployment: Deployment) -> Iterator[str]:
    """Two workers, JSON logs, the access log on."""
    with running_server(
        sqlite_deployment, workers=2, GOVSIGN_LOG_FORMAT="json", GOVSIGN_ACCESS_LOG="1"
    ) as base:
        yield base


@pytest.fixture(scope="module")
def auditor(sqlite_deployment: Deployment) -> dict[str, str]:
    return {"Authorization": f"Bearer {administrator_token(sqlite_deployment, 'auditor')}"}


def _log_of(base: str) -> Path:
    return SESSION_ROOT / f"serve-sqlite-{base.rsplit(':', 1)[1]}.log"


def _ocsp_get_path(deployment: Deployment) -> str:
    serial = issue_in_hsm(deployment)
    with deployment.authority.database.transaction() as session:
        record = certificate_by_serial(session, serial)
        assert record is not None
        leaf = x509.load_der_x509_certificate(record.der)
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, deployment.issuing, hashes.SHA1()).build()
    return "/pki/ocsp/" + base64.b64encode(request.public_bytes(serialization.Encoding.DER)).decode()


def _timestamp_query() -> bytes:
    imprint = {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(b"x").digest()}
    return bytes(
        asn1_tsp.TimeStampReq({"version": "v1", "message_imprint": imprint, "cert_req": True}).dump()
    )


def _families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        family.name: [(sample.name, sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


def test_metrics_of_both_workers_count_each_service_by_route_template(
    server: str, sqlite_deployment: Deployment, auditor: dict[str, str]
) -> None:
    ocsp_path = _ocsp_get_path(sqlite_deployment)
    with httpx.Client(base_url=server, timeout=60) as client:
        for _ in range(3):  # the second and third are answered from memory, before routing
            assert client.get(ocsp_path).status_code == 200
        assert (
            client.post(
                "/pki/tsa",
                content=_timestamp_query(),
                headers={"Content-Type": "application/timestamp-query"},
            ).status_code
            == 200
        )
        client.post("/api/v1/certificates", json={})  # refused (no token): still counted, by template
        client.post("/api/v1/sign")
        client.post("/api/v1/verify")
        client.get("/pki/crl/govsign-ca.crl")
        for n in range(40):  # spread over both workers by the kernel; the sum must be exact
            client.get(f"/no-such-page/{n}")
        assert client.get("/metrics").status_code == 401
        scraped = client.get("/metrics", headers=auditor)
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    families = _families(scraped.text)

    requests = families["govsign_http_requests"]
    counted = {(labels["method"], labels["route"]) for name, labels, _ in requests if name.endswith("_total")}
    for service, route in SERVED_ROUTES.items():
        assert route in counted, f"{service}: no request series for {route} in {sorted(counted)}"
        assert any(
            name == "govsign_http_request_duration_seconds_bucket"
            and (labels["method"], labels["route"]) == route
            for name, labels, _ in families["govsign_http_request_duration_seconds"]
        ), f"{service}: no latency histogram for {route}"
    assert not any("/no-such-page/" in labels["route"] for _, labels, _ in requests), (
        "raw paths became labels"
    )
    unmatched = sum(v for n, labels, v in requests if n.endswith("_total") and labels["route"] == "unmatched")
    assert unmatched == 40, "every worker's count is in the scrape (multiprocess mode)"
    ocsp_get = sum(
        v for n, labels, v in requests if n.endswith("_total") and labels["route"] == SERVED_ROUTES["OCSP"][1]
    )
    assert ocsp_get == 3, "answers from memory are counted with the route they stand in for"

    hsm = {labels["operation"] for name, labels, _ in families["govsign_hsm_operation_duration_seconds"]}
    assert {"sign", "probe"} <= hsm, hsm  # the TSA's signature, readiness's round trip
    errors = {labels["operation"]: value for _, labels, value in families["govsign_hsm_operation_errors"]}
    assert errors.get("sign") == 0, errors
    for gauge in (
        "govsign_ocsp_oldest_response_age_seconds",
        "govsign_ocsp_responses_past_half_life",
        "govsign_batch_queue_depth",
    ):
        assert len(families[gauge]) == 1, gauge
    assert families["govsign_ocsp_oldest_response_age_seconds"][0][2] > 0
    assert {labels["ca"] for _, labels, _ in families["govsign_crl_age_seconds"]} >= {"govsign-ca"}


def _published(deployment: Deployment, table: type[CrlState] | type[CrlShard]) -> dt.datetime:
    """The oldest thisUpdate of the issuing CA's full CRL (``CrlState``) or of its shards (``CrlShard``)."""
    with deployment.authority.database.reading() as session:
        oldest = session.execute(
            select(func.min(table.this_update))
            .join(CaRecord, CaRecord.id == table.ca_id)
            .where(CaRecord.name == "govsign-ca")
        ).scalar_one()
    assert oldest is not None
    return oldest


def test_metrics_give_the_age_of_each_cas_full_crl_and_of_its_oldest_shard(
    server: str, sqlite_deployment: Deployment, auditor: dict[str, str]
) -> None:
    oldest_shard, full = _published(sqlite_deployment, CrlShard), _published(sqlite_deployment, CrlState)
    scraped = httpx.get(f"{server}/metrics", headers=auditor, timeout=60)
    now = dt.datetime.now(dt.UTC)
    families = _families(scraped.text)
    shard_ages = {labels["ca"]: age for _, labels, age in families["govsign_crl_oldest_shard_age_seconds"]}
    full_ages = {labels["ca"]: age for _, labels, age in families["govsign_crl_age_seconds"]}
    # seconds since thisUpdate; a CRL the servers publish meanwhile only makes an age smaller
    assert 0 <= shard_ages["govsign-ca"] <= (now - oldest_shard).total_seconds() + 1
    assert 0 <= full_ages["govsign-ca"] <= (now - full).total_seconds() + 1
    assert "govsign-root" in full_ages and "govsign-root" not in shard_ages  # the root is not partitioned


def test_request_id_is_echoed_logged_and_written_into_the_audit_entry(
    server: str, sqlite_deployment: Deployment, auditor: dict[str, str]
) -> None:
    mine = "req-audit-42.a:b"
    response = httpx.get(
        f"{server}/api/v1/audit/export",
        params={"first": 1, "last": 1},
        headers={**auditor, "X-Request-ID": mine},
        timeout=60,
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == mine
    with sqlite_deployment.authority.database.transaction() as session:
        newest = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
        assert json.loads(newest.details)["request_id"] == mine, newest.details
    assert sqlite_deployment.cli("audit", "verify").returncode == 0, "the chain's format is unchanged"

    made_up = httpx.get(f"{server}/livez", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 80})
    assert made_up.headers["x-request-id"] != "" and " " not in made_up.headers["x-request-id"]
    assert len(made_up.headers["x-request-id"]) == 32

    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(line) for line in _log_of(server).read_text().splitlines() if line.strip()]
        access = [line for line in lines if line["logger"] == "govsign.access" and line["request_id"] == mine]
        if access or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert access, "no access line for the request"
    assert {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "method",
        "route",
        "status",
        "duration",
    } <= set(access[0])
    assert (access[0]["method"], access[0]["route"], access[0]["status"]) == (
        "GET",
        "/api/v1/audit/export",
        200,
    )


def test_livez_and_readyz(server: str) -> None:
    assert httpx.get(f"{server}/livez").json() == {"status": "alive"}
    ready = httpx.get(f"{server}/readyz", timeout=30)
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "database": "ok", "hsm": "ok"}


def test_readyz_is_503_with_the_reason_when_the_ca_cannot_be_reached() -> None:
    def unreachable() -> object:
        raise HsmUnavailable("no token labelled 'service' in the HSM")

    answer = readiness(unreachable)  # type: ignore[arg-type]
    assert answer.status_code == 503
    assert "no token labelled" in json.loads(bytes(answer.body))["reason"]


def _start_under_load(deployment: Deployment, name: str) -> tuple[float | None, str]:
    """Start the console script `govsign serve --workers 2` while 8 clients ask /readyz from the first
    instant, for 15 s; the seconds until the first 200 (None: never) and the server's log."""
    port = free_port()
    log = SESSION_ROOT / f"serve-{name}-{port}.log"
    ready_after: list[float] = []
    with log.open("w") as output:
        started = time.monotonic()
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "govsign"), "serve", "--port", str(port), "--workers", "2"],
            env={**deployment.env, "PYTHONPATH": str(PROJECT)},  # this checkout's code, not the installed one
            stdout=output,
            stderr=subprocess.STDOUT,
        )

        def hammer() -> None:
            with httpx.Client(timeout=3) as client:
                while time.monotonic() < started + 15:
                    try:
                        ready = client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
                    except httpx.HTTPError:
                        time.sleep(0.05)
                        continue
                    if ready and not ready_after:
                        ready_after.append(time.monotonic() - started)

        clients = [threading.Thread(target=hammer) for _ in range(8)]
        try:
            for client in clients:
                client.start()
            for client in clients:
                client.join()
        finally:
            process.terminate()
            process.wait(timeout=30)
    return (ready_after[0] if ready_after else None), log.read_text()


@pytest.mark.slow
def test_two_workers_are_ready_within_ten_seconds_under_load_and_none_dies(
    sqlite_deployment: Deployment,
) -> None:
    """Three starts hammered from the first instant: no "Child process ... died" in the server's log (the
    supervisor killed workers still re-importing the console script), /readyz 200 within 10 s each time."""
    for attempt in range(1, 4):
        ready_after, log = _start_under_load(sqlite_deployment, f"startup-{attempt}")
        assert "died" not in log, f"start {attempt}: a worker was killed:\n{log}"
        assert ready_after is not None and ready_after < 10, (
            f"start {attempt}: ready after {ready_after} s:\n{log}"
        )
