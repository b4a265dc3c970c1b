"""The HTTP edge of `govsign serve`: bodies bounded as they arrive (chunked, lying or stalled), refused API
calls rate-limited and audited in aggregate, X-Forwarded-For believed only from configured proxies, the
TSA rate-limited, per-user pages never cached, and rate limiters that cannot be reset by rotating
addresses."""

from __future__ import annotations

import asyncio
import json
import os
import select as io_select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from starlette.types import Message

from ca.rate_limit import RateLimiter
from ca.store import AuditEntry
from tests.conftest import Deployment, running_server

MIB = 2**20
# GOVSIGN_MAX_DOCUMENT_MB=2 and GOVSIGN_MAX_VERIFY_MB=1: with the 1 MiB allowed for the multipart framing,
# uploads to sign may have 3 MiB, uploads to validate 2 MiB.
EDGE = {
    "GOVSIGN_MAX_DOCUMENT_MB": "2",
    "GOVSIGN_MAX_VERIFY_MB": "1",
    "GOVSIGN_BODY_IDLE_SECONDS": "2",
    "GOVSIGN_TSA_RATE_PER_SECOND": "0.1",
    "GOVSIGN_TSA_BURST": "5",
}
SIGN_LIMIT, VERIFY_LIMIT = 3 * MIB, 2 * MIB
UPLOAD_ROUTES = [
    ("/api/v1/verify", VERIFY_LIMIT),
    ("/verify", VERIFY_LIMIT),
    ("/verify/report.pdf", VERIFY_LIMIT),
    ("/api/v1/sign", SIGN_LIMIT),
    ("/api/v1/batches", SIGN_LIMIT),
    ("/console/sign/preview", SIGN_LIMIT),
]
BOUNDARY = "govsign-edge-test"
MULTIPART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
    "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
).encode()


@pytest.fixture(scope="module")
def edge(sqlite_deployment: Deployment) -> Iterator[str]:
    with running_server(sqlite_deployment, port=None, workers=1, **EDGE) as base:
        yield base


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _server_pid(base: str) -> int:
    """The `govsign serve` process listening on ``base`` (one worker: uvicorn serves in that process)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in command and str(_port(base)).encode() in command:
                return int(entry.name)
    raise AssertionError(f"no govsign serve process for {base}")


class SpoolWatch:
    """The largest regular file the server process holds open while it runs: where python-multipart
    spools an upload (an unlinked temporary file once it is past 1 MiB)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.largest = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        folder = Path(f"/proc/{self.pid}/fd")
        while not self._stop.is_set():
            for descriptor in list(folder.iterdir()) if folder.exists() else []:
                try:
                    target, size = os.readlink(descriptor), os.stat(descriptor).st_size
                except OSError:
                    continue
                if (
                    target.startswith("/")
                    and not target.startswith(("/dev", "/proc"))
                    and ".db" not in target
                ):
                    self.largest = max(self.largest, size)
            time.sleep(0.002)

    def __enter__(self) -> SpoolWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Outcome:
    """What a raw upload got: the status line (empty when the server closed without one), how many body
    bytes the client pushed before the answer came, and whether the server closed the connection."""

    status: int
    sent: int
    closed: bool
    answer: bytes = b""


def _answer(connection: socket.socket, deadline: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True) or ``deadline`` passes (False)."""
    data = b""
    while time.monotonic() < deadline:
        connection.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def raw_upload(base: str, path: str, total: int, *, headers: str = "") -> Outcome:
    """POST a multipart body of ``total`` bytes in 64 KiB HTTP chunks (no Content-Length), stopping when
    the server answers; ``sent`` counts the body bytes the socket took before that."""
    frame = b"10000\r\n" + b"0" * 65536 + b"\r\n"  # one chunk of 64 KiB
    with socket.socket() as connection:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)  # ``sent`` is near what arrived
        connection.connect(("127.0.0.1", _port(base)))
        connection.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n{headers}"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n{len(MULTIPART_HEAD):x}\r\n"
            ).encode()
            + MULTIPART_HEAD
            + b"\r\n"
        )
        sent, pending = len(MULTIPART_HEAD), memoryview(frame)
        while sent < total:
            readable, writable, _ = io_select.select([connection], [connection], [], 30)
            if readable or not writable:
                break  # the server answered (or closed, or stopped reading for good)
            try:
                pending = pending[connection.send(pending) :]
            except OSError:
                break
            if not pending:
                sent, pending = sent + 65536, memoryview(frame)
        answer, closed = _answer(connection, time.monotonic() + 30)
        return Outcome(_status(answer), sent, closed, answer[:300])


@pytest.mark.parametrize(("path", "limit"), UPLOAD_ROUTES)
def test_a_chunked_upload_is_refused_at_the_limit_with_no_more_than_the_limit_spooled(
    edge: str, path: str, limit: int
) -> None:
    with SpoolWatch(_server_pid(edge)) as spool:
        outcome = raw_upload(edge, path, 64 * MIB)
    print(f"{path}: client pushed {outcome.sent} bytes before 413; largest spool {spool.largest} bytes")
    assert outcome.status == 413 and outcome.closed, outcome
    assert spool.largest <= limit, f"{spool.largest} bytes spooled for a limit of {limit}"
    # what the client could push is the limit plus what sockets buffer on the way, not the whole 64 MiB
    assert outcome.sent < limit + 16 * MIB, outcome


def test_a_content_length_that_lies_does_not_lift_the_limit(edge: str, sqlite_deployment: Deployment) -> None:
    """On the wire, uvicorn refuses a small Content-Length beside a chunked body; behind a front end that
    passes on a body longer than its header says (HTTP/2 DATA frames), the application counts the bytes."""
    with SpoolWatch(_server_pid(edge)) as spool:
        outcome = raw_upload(edge, "/api/v1/verify", 64 * MIB, headers="Content-Length: 100\r\n")
    assert outcome.status in (400, 413) and outcome.closed, outcome
    assert spool.largest <= VERIFY_LIMIT and outcome.sent < VERIFY_LIMIT + 16 * MIB, outcome

    from govsign.app import create_app

    app = create_app(sqlite_deployment.settings.model_copy(update={"max_document_mb": 1}))
    app.state.authority = lambda: sqlite_deployment.authority
    chunks = iter([MULTIPART_HEAD, *[b"0" * 65536] * 1024])  # 64 MiB under "Content-Length: 100"
    consumed, answers = 0, []

    async def receive() -> Message:
        nonlocal consumed
        consumed += 1
        return {"type": "http.request", "body": next(chunks), "more_body": True}

    async def send(message: Message) -> None:
        answers.append(message)

    headers = [
        (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
        (b"content-length", b"100"),
    ]
    scope = {"type": "http", "method": "POST", "path": "/api/v1/verify", "raw_path": b"/api/v1/verify"}
    scope |= {"query_string": b"", "headers": headers, "client": ("192.0.2.1", 1), "server": ("govsign", 80)}
    asyncio.run(app({**scope, "http_version": "1.1", "scheme": "http", "root_path": ""}, receive, send))
    assert answers[0]["status"] == 413 and (b"connection", b"close") in answers[0]["headers"]
    assert consumed * 65536 <= 2 * MIB + 2 * 65536, f"{consumed} chunks of 64 KiB read for a 2 MiB limit"


def test_verification_takes_govsign_max_verify_mb_and_signing_govsign_max_document_mb(edge: str) -> None:
    body = b"0" * (VERIFY_LIMIT + MIB // 2)  # between the two limits
    files = {"file": ("big.pdf", body, "application/pdf")}
    verify = httpx.post(f"{edge}/api/v1/verify", files=files, timeout=60)
    assert verify.status_code == 413 and "1 MiB" in verify.json()["detail"]
    page = httpx.post(f"{edge}/verify", files=files, timeout=60)
    assert page.status_code == 413 and "Tệp tải lên lớn hơn" in page.text
    assert httpx.post(f"{edge}/api/v1/sign", files=files, timeout=60).status_code == 401  # read, then refused


def test_a_stalled_body_is_dropped_after_the_idle_timeout(edge: str) -> None:
    with socket.create_connection(("127.0.0.1", _port(edge))) as connection:
        connection.sendall(
            b"POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
            + f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n".encode()
            + b"--"
            + BOUNDARY.encode()
        )
        started = time.monotonic()
        answer, closed = _answer(connection, started + 15)
        waited = time.monotonic() - started
    assert closed and _status(answer) == 408 and waited < 6, (answer, closed, waited)


def test_the_tsa_answers_429_past_its_per_client_rate(edge: str) -> None:
    statuses = [httpx.post(f"{edge}/pki/tsa", content=b"not a TimeStampReq").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and statuses[-1] == 429, statuses


def test_console_and_per_user_pages_are_not_stored(edge: str) -> None:
    for method, path in (("GET", "/console/login"), ("GET", "/verify"), ("POST", "/verify")):
        response = httpx.request(method, f"{edge}{path}")
        assert response.headers.get("cache-control") == "no-store", (path, response.headers)
    assert httpx.get(f"{edge}/console").headers.get("cache-control") == "no-store"  # the redirect too
    assert "no-store" not in httpx.get(f"{edge}/static/console.js").headers.get("cache-control", "")
    assert "no-store" not in httpx.get(f"{edge}/pki/ca/govsign-root.crt").headers["cache-control"]


# -- refused API calls and client addresses -------------------------------------------------------------


def _refusals_after(deployment: Deployment, seq: int) -> list[dict[str, object]]:
    with deployment.authority.database.transaction() as session:
        entries = session.execute(
            select(AuditEntry).where(AuditEntry.seq > seq, AuditEntry.action == "access.refused")
        ).scalars()
        return [json.loads(entry.details) for entry in entries]


def _last_seq(deployment: Deployment) -> int:
    with deployment.authority.database.transaction() as session:
        return int(
            session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())).scalars().first() or 0
        )


def test_500_refused_calls_make_a_few_audit_entries_with_their_count_and_end_in_429(
    sqlite_deployment: Deployment,
) -> None:
    before = _last_seq(sqlite_deployment)
    environment = {"GOVSIGN_REFUSED_BURST": "50", "GOVSIGN_REFUSED_RATE_PER_SECOND": "0.5"}
    with (
        running_server(sqlite_deployment, port=None, workers=1, **environment) as base,
        httpx.Client(base_url=base) as client,
    ):
        statuses = [client.get("/api/v1/approvals").status_code for _ in range(500)]
    assert statuses[:50] == [401] * 50 and statuses[-1] == 429 and set(statuses) == {401, 429}
    entries = _refusals_after(sqlite_deployment, before)  # the server audits the last window as it stops
    assert 2 <= len(entries) <= 4, entries
    assert sum(int(str(entry["count"])) for entry in entries) == 500
    assert all(entry["client"] == "127.0.0.1" for entry in entries)


@contextmanager
def _refused_from(deployment: Deployment, forwarded_for: str, **environment: str) -> Iterator[list[str]]:
    """The client addresses the audit log records for one refused call carrying X-Forwarded-For."""
    before = _last_seq(deployment)
    clients: list[str] = []
    with running_server(deployment, port=None, workers=1, **environment) as base:
        answer = httpx.get(
            f"{base}/api/v1/audit/export",
            headers={"X-Forwarded-For": forwarded_for, "Authorization": "Bearer x"},
        )
        assert answer.status_code == 401
        clients.extend(str(entry["client"]) for entry in _refusals_after(deployment, before))
        yield clients


def test_x_forwarded_for_is_believed_only_from_configured_proxies(sqlite_deployment: Deployment) -> None:
    with _refused_from(sqlite_deployment, "203.0.113.9") as clients:
        assert clients == ["127.0.0.1"]
    with _refused_from(sqlite_deployment, "203.0.113.9", GOVSIGN_TRUSTED_PROXIES="127.0.0.1") as clients:
        assert clients == ["203.0.113.9"]


# -- rate limiters --------------------------------------------------------------------------------------


def test_a_full_limiter_forgets_refilled_buckets_and_keeps_a_throttled_one() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=0.01, burst=3, max_clients=100, clock=lambda: now[0])
    assert [limiter.allow("attacker") for _ in range(4)] == [True, True, True, False]
    for number in range(10_000):  # rotating addresses, one request each
        now[0] += 0.001
        limiter.allow(f"10.0.{number // 256}.{number % 256}")
    assert limiter.remembered <= 100
    assert limiter.throttled("attacker") and not limiter.allow("attacker")
    now[0] += 1000  # everyone refills: the oldest full buckets go first, the attacker's among them
    for number in range(100):
        limiter.allow(f"192.0.2.{number}")
    assert limiter.remembered == 100 and limiter.allow("attacker")


def test_rotating_addresses_do_not_reset_the_console_sign_in_throttle(sqlite_deployment: Deployment) -> None:
    from govsign.app import create_app
    from govsign.web import console

    app = create_app(sqlite_deployment.settings)
    app.state.authority = lambda: sqlite_deployment.authority
    attacker = TestClient(app, client=("198.51.100.7", 40000))
    form = {"username": "nobody", "password": "wrong-password", "code": "000000"}
    answers = [attacker.post("/console/login", data=form).status_code for _ in range(21)]
    assert answers[-1] == 429 and 429 not in answers[:20], answers
    for number in range(100_010):  # as many addresses as the limiter remembers, and a few more
        console._login_attempts.allow(f"10.{number >> 16}.{(number >> 8) & 255}.{number & 255}")
    # the attacker's bucket is still there, refilled by at most a token or two while the others came (0.2
    # a second); a forgotten bucket would grant 20 attempts at once
    assert 429 in [attacker.post("/console/login", data=form).status_code for _ in range(3)]
