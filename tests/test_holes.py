"""The last holes of the hardening issue, each shown on real processes, a real HSM and a real database: a
fresh server's first time-stamps, a lost token store lock, private database files, a missing activation
PIN, and batch documents that outlive their welcome."""

from __future__ import annotations

import hashlib
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp as asn1_tsp

from tests.conftest import Deployment, running_server

CONCURRENT_STAMPS = 24


def timestamp_query(text: bytes) -> bytes:
    imprint = {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(text).digest()}
    return bytes(asn1_tsp.TimeStampReq({"version": "v1", "message_imprint": imprint, "cert_req": True}).dump())


def openssl_reply_text(reply: bytes, folder: Path, name: str) -> str:
    """`openssl ts -reply -text` of a DER TimeStampResp: what an RFC 3161 client makes of it."""
    path = folder / f"{name}.tsr"
    path.write_bytes(reply)
    shown = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(path), "-text"], capture_output=True, text=True, check=False
    )
    return shown.stdout + shown.stderr


def test_a_fresh_servers_first_concurrent_time_stamps_are_all_granted(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    """The TSA looks its key up on first use; many first requests at once used to find the key without
    its encoded certificate parts and fail with a 500."""
    with running_server(sqlite_deployment) as base:
        barrier = threading.Barrier(CONCURRENT_STAMPS)

        def stamp(number: int) -> httpx.Response:
            barrier.wait()
            return httpx.post(
                f"{base}/pki/tsa",
                content=timestamp_query(b"first %d" % number),
                headers={"Content-Type": "application/timestamp-query"},
                timeout=60,
            )

        with ThreadPoolExecutor(CONCURRENT_STAMPS) as pool:
            answers = list(pool.map(stamp, range(CONCURRENT_STAMPS)))
    assert [answer.status_code for answer in answers] == [200] * CONCURRENT_STAMPS
    for number, answer in enumerate(answers):
        shown = openssl_reply_text(answer.content, tmp_path, f"reply-{number}")
        assert "Status: Granted." in shown, shown
