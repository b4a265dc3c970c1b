"""Benchmarks of the status services, run by scripts/bench.py (rows for its table).

* OCSP GET under `wrk` (30 s, 64 connections) against `govsign serve --workers 2`, and in the same minute
  against `openssl ocsp -port` serving a software copy of a responder for the same kind of certificate
  (the HSM's responder key cannot be exported), as the baseline. The baseline runs as one process: its
  `-multi` mode ignores SIGTERM and its children spin at full CPU on Debian 12's OpenSSL 3.0;
* CRL build time and peak memory, full and per shard (scripts/bench_crl.py);
* time-stamp tokens per second through HTTP, also under `wrk`.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

WRK_SECONDS = 30
WRK_CONNECTIONS = 64


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited while starting ({url})")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _wrk(
    url: str,
    work: Path,
    lua: str | None = None,
    *,
    close: bool = False,
    connections: int = WRK_CONNECTIONS,
    seconds: int = WRK_SECONDS,
) -> tuple[float, float, float, str]:
    """(requests/s, p50 ms, p99 ms, a note on error responses) from wrk --latency; ``close`` sends
    "Connection: close" for servers that answer one request per connection."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if close:
        command += ["-H", "Connection: close"]
    if lua:
        script = work / "wrk.lua"
        script.write_text(lua)
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout

    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        assert match, output
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    total = re.search(r"(\d+) requests in", output)
    note = f" ({errors.group(1)} of {total.group(1) if total else '?'} not 2xx/3xx)" if errors else ""
    return rate, latency("50"), latency("99"), note


def _openssl_baseline(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`openssl ocsp -port` with a software CA, responder and index, and a GET URL for one of its serials."""
    folder = work / "openssl-ocsp"
    folder.mkdir()

    def openssl(*arguments: str) -> None:
        subprocess.run(["openssl", *arguments], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:3072",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/C=VN/O=bench/CN=bench CA",
    )
    openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ocsp.key",
        "-out",
        "ocsp.csr",
        "-subj",
        "/C=VN/O=bench/CN=bench OCSP",
    )
    (folder / "ext.cnf").write_text("extendedKeyUsage=OCSPSigning\nkeyUsage=critical,digitalSignature\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "ocsp.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "ocsp.pem",
        "-days",
        "30",
        "-extfile",
        "ext.cnf",
    )
    openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/C=VN/CN=leaf",
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "0x1234abcd",
        "-out",
        "leaf.pem",
        "-days",
        "30",
    )
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%y%m%d%H%M%SZ")
    (folder / "index.txt").write_text(f"V\t{expiry}\t\t1234ABCD\tunknown\t/C=VN/CN=leaf\n")
    openssl("ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-no_nonce", "-reqout", "request.der")
    port = _free_port()
    process = subprocess.Popen(
        [
            "openssl",
            "ocsp",
            "-port",
            str(port),
            "-index",
            "index.txt",
            "-CA",
            "ca.pem",
            "-rsigner",
            "ocsp.pem",
            "-rkey",
            "ocsp.key",
            "-nmin",
            "60",
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    encoded = urllib.parse.quote(base64.b64encode((folder / "request.der").read_bytes()).decode(), safe="")
    return process, f"http://127.0.0.1:{port}/{encoded}"


def ocsp_rows(env: dict[str, str], work: Path, leaf_serial: str) -> list[tuple[str, str]]:
    """wrk against govsign (2 workers) and against openssl ocsp (2 processes), in the same minute."""
    if shutil.which("wrk") is None:
        return [("OCSP under wrk", "skipped: install Debian's wrk (apt-get install wrk)")]
    from asn1crypto import ocsp as asn1_ocsp

    from ca.ocsp import OcspResponder
    from govsign.config import runtime
    from govsign.config.settings import load_settings

    os.environ.update(env)
    authority = runtime.open_authority_from(load_settings())
    responder = OcspResponder(authority)
    request = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [{"req_cert": responder.current_issuer().cert_id(int(leaf_serial, 16))}]
            }
        }
    ).dump()
    port = _free_port()
    # The per-address time-stamp limit (20/s, burst 50) guards the HSM against anonymous floods; wrk comes
    # from one address, so left on it would measure refusals, not the TSA's capacity.
    capacity = {"GOVSIGN_TSA_RATE_PER_SECOND": "1000000", "GOVSIGN_TSA_BURST": "1000000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "govsign", "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, **env, **capacity},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    baseline, baseline_url = _openssl_baseline(work)
    rows: list[tuple[str, str]] = []
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", server)
        encoded = urllib.parse.quote(base64.b64encode(request).decode(), safe="")
        url = f"http://127.0.0.1:{port}/pki/ocsp/{encoded}"
        ours = _wrk(url, work)
        _wait_for(baseline_url, baseline)
        theirs = _wrk(baseline_url, work, close=True)  # openssl ocsp -port does not keep connections alive
        rows += [
            (
                f"OCSP GET, govsign serve 2 workers, wrk {WRK_CONNECTIONS} conns {WRK_SECONDS} s: responses/s",
                f"{ours[0]:.0f}{ours[3]}",
            ),
            ("  p50 / p99 latency, ms", f"{ours[1]:.2f} / {ours[2]:.2f}"),
            (
                "OCSP GET, openssl ocsp -port, one process (baseline): responses/s",
                f"{theirs[0]:.0f}{theirs[3]}",
            ),
            ("  p50 / p99 latency, ms", f"{theirs[1]:.2f} / {theirs[2]:.2f}"),
            (
                "govsign / openssl responses per second",
                f"{ours[0] / theirs[0]:.2f}x"
                if theirs[0]
                else "n/a: openssl served no response to wrk's keep-alive",
            ),
        ]
        rows += tsa_rows(port, work)
    finally:
        server.terminate()
        server.wait(timeout=30)
        os.killpg(baseline.pid, signal.SIGKILL)
        baseline.wait(timeout=30)
    return rows


def tsa_rows(port: int, work: Path) -> list[tuple[str, str]]:
    query = work / "query.tsq"
    data = work / "data.txt"
    data.write_text("bench")
    subprocess.run(
        ["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query)],
        check=True,
        capture_output=True,
    )
    lua = (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/timestamp-query"\n'
        f'local f = io.open("{query}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
    )
    rate, p50, p99, errors = _wrk(f"http://127.0.0.1:{port}/pki/tsa", work, lua)
    return [
        ("TSA tokens/s through HTTP (wrk, 2 workers)", f"{rate:.0f}{errors}"),
        ("  p50 / p99 latency, ms", f"{p50:.2f} / {p99:.2f}"),
    ]


def crl_rows(env: dict[str, str]) -> list[tuple[str, str]]:
    """The CRL rows (scripts/bench_crl.py): full CRL at 100,000 and 1,000,000 revoked, and its shards."""
    import bench_crl

    return bench_crl.crl_rows(env)
