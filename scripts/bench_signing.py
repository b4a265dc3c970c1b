"""Benchmarks of the signing service, run by scripts/bench.py (rows for its table).

Every ratio is taken against a baseline measured in the same process and the same minute: raw pyHanko
signing the same one-page PDF with a SoftHSM key through pyHanko's own PKCS11Signer. Our path includes
the holder's activation (PIN -> SAD for that one document, docs/SOLE-CONTROL.md) before every signature,
since that is what every face of the service does now.

* invisible B-B signatures per second in one process (govsign / raw pyHanko), and with two processes
  (both cores) against one;
* a visible Vietnamese text stamp against an invisible signature;
* one B-LTA document (signature time-stamp, DSS, archive time-stamp, all data in-process);
* where an invisible signature spends its time (cProfile shares);
* signing after the token holds ``--keys`` more key pairs (look-ups must stay flat);
* a 200 MB scanned PDF, file to file and through the API: time and peak RSS;
* ``POST /api/v1/sign`` latency, p50 and p99, with 8 concurrent clients.
"""

from __future__ import annotations

import cProfile
import io
import json
import multiprocessing
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_official import (
    PIN,
    _account,
    _authority,
    _issue_official,
    _load,
    _median_ms,
    _one_page,
    _server,
    _Signing,
)
from bench_validation import _validation_rows

# scripts/bench_activation.py takes the official, their account and the server from here.
__all__ = ["PIN", "_account", "_authority", "_issue_official", "_server", "signing_rows"]

ROUNDS = 60
SCAN_PAGES = 56  # about 3.6 MB of noise per page: a 200 MB file


def _throughput_worker(
    env: dict[str, str], work: str, serial: str, rounds: int, start: Any, results: Any
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    signing = _Signing(env, Path(work), serial)
    signing.ours()
    start.wait()
    began = time.perf_counter()
    for _ in range(rounds):
        signing.ours()
    results.put((began, time.perf_counter(), rounds))


def _throughput(env: dict[str, str], work: Path, serial: str, processes: int, rounds: int) -> float:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=_throughput_worker, args=(env, str(work), serial, rounds, start, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=900) for _ in workers]
    for worker in workers:
        worker.join()
    return float(sum(o[2] for o in outcomes) / (max(o[1] for o in outcomes) - min(o[0] for o in outcomes)))


def _profile_shares(signing: _Signing) -> str:
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(20):
        signing.ours()
    profile.disable()
    stats = pstats.Stats(profile)
    total = max(entry[3] for entry in stats.stats.values())  # type: ignore[attr-defined]

    def cumulative(fragment: str, function: str) -> float:
        return sum(
            entry[3]
            for (filename, _, name), entry in stats.stats.items()  # type: ignore[attr-defined]
            if fragment in filename and name == function
        )

    module_sign = cumulative("ca/activation/module.py", "sign_document")
    hsm_sign = cumulative("ca/hsm/vault.py", "sign_digests")
    shares = {
        "holder's activation (argon2id, HSM HMAC, grant, audit)": cumulative(
            "ca/activation/module.py", "authorize"
        ),
        "HSM unwrap + sign + destroy": hsm_sign,
        "SAD claim and its audit entry": module_sign - hsm_sign,
        "qpdf syntax check of the input": cumulative("signing/documents.py", "_damage"),
        "audit entry of the document": cumulative("ca/audit.py", "record"),
        "CMS building (asn1crypto, pyHanko)": cumulative("pdf_cms.py", "async_sign") - module_sign,
    }
    rest = total - sum(shares.values())
    parts = [f"{name} {100 * value / total:.0f}%" for name, value in shares.items()]
    return ", ".join([*parts, f"PDF reading/writing and the rest {100 * rest / total:.0f}%"])


def _many_keys(signing: _Signing, keys: int) -> tuple[float, float]:
    """(first signature in a new thread, median signature) after ``keys`` more key pairs in the token."""
    from ca.hsm import KeyAlgorithm

    token = signing.authority.token
    for number in range(keys):
        token.generate_key_pair(KeyAlgorithm.EC_P256, f"bench-filler-{number}")
    first: list[float] = []

    def in_new_thread() -> None:
        began = time.perf_counter()
        signing.ours()
        first.append((time.perf_counter() - began) * 1000)

    thread = threading.Thread(target=in_new_thread)
    thread.start()
    thread.join()
    return first[0], _median_ms(signing.ours, ROUNDS // 2)


def _scanned_pdf(path: Path) -> Path:
    """About 200 MB: pages of 200 dpi A4 colour noise (noise does not compress, as real scans barely do)."""
    import pikepdf
    from PIL import Image

    image = Image.frombytes("RGB", (1654, 2339), os.urandom(1654 * 2339 * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    jpeg = buffer.getvalue()
    pdf = pikepdf.new()
    for _ in range(SCAN_PAGES):
        picture = pdf.make_stream(
            jpeg,
            Type=pikepdf.Name.XObject,
            Subtype=pikepdf.Name.Image,
            Width=1654,
            Height=2339,
            ColorSpace=pikepdf.Name.DeviceRGB,
            BitsPerComponent=8,
            Filter=pikepdf.Name.DCTDecode,
        )
        page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, 595, 842],
            Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=picture)),
            Contents=pdf.make_stream(b"q 595 0 0 842 0 0 cm /Im0 Do Q"),
        )
        pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)
    return path


SIGN_ONE_FILE = """
import sys, time
sys.path.insert(0, sys.argv[1])
import os
from pathlib import Path
from govsign.config import runtime
from govsign.config.settings import load_settings
import hashlib
from ca.signing_keys import activate_for_documents, subscriber_key
from ca.status import StatusServices
from signing.pades import Level, SigningOptions, sign_pdf
authority = runtime.open_authority_from(load_settings())
key = subscriber_key(authority, sys.argv[2])
pin = sys.stdin.readline().strip()
began = time.perf_counter()
with open(sys.argv[3], "rb") as stream:
    digest = hashlib.file_digest(stream, "sha256").digest()
key = activate_for_documents(authority, key, pin, [digest], actor="bench").key_for(digest)
options = SigningOptions(level=Level.B_T)
sign_pdf(StatusServices(authority), key, Path(sys.argv[3]), Path(sys.argv[4]), options, actor="bench")
# VmHWM, not ru_maxrss: the latter survives exec, so a child forked from a big parent inherits its peak.
status = Path("/proc/self/status").read_text().splitlines()
print(time.perf_counter() - began, next(line.split()[1] for line in status if line.startswith("VmHWM")))
"""


def _big_file_rows(env: dict[str, str], work: Path, serial: str) -> list[tuple[str, str]]:
    project = str(Path(__file__).resolve().parents[1])
    scan = _scanned_pdf(work / "scan-200mb.pdf")
    size_mb = scan.stat().st_size / 2**20
    result = subprocess.run(
        [sys.executable, "-c", SIGN_ONE_FILE, project, serial, str(scan), str(work / "scan-signed.pdf")],
        input=f"{PIN}\n",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, rss_kb = result.stdout.split()
    rows = [
        (
            f"{size_mb:.0f} MB scanned PDF, file to file (B-T): time / peak RSS",
            f"{float(seconds):.1f} s / {int(rss_kb) / 1024:.0f} MB",
        )
    ]
    api_seconds, api_rss = _through_api(env, serial, scan, work)
    rows.append(
        (
            f"{size_mb:.0f} MB scanned PDF through POST /api/v1/sign: time / server peak RSS",
            f"{api_seconds:.1f} s / {api_rss:.0f} MB",
        )
    )
    scan.unlink()
    return rows


def _peak_rss_mb(pid: int) -> float:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    peaks = []
    for process in [str(pid), *children]:
        status = Path(f"/proc/{process}/status").read_text()
        peaks.append(next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")))
    return max(peaks) / 1024


def _through_api(env: dict[str, str], serial: str, scan: Path, work: Path) -> tuple[float, float]:
    import httpx

    token = _account(env, serial)
    process, base = _server(env, workers=1)
    try:
        began = time.perf_counter()
        with scan.open("rb") as stream:
            response = httpx.post(
                f"{base}/api/v1/sign",
                headers={"Authorization": f"Bearer {token}", "X-Activation-PIN": PIN},
                files={"file": ("scan.pdf", stream, "application/pdf")},
                data={"level": "B-T"},
                timeout=900,
            )
        elapsed = time.perf_counter() - began
        response.raise_for_status()
        return elapsed, _peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait()


def _api_latency(
    env: dict[str, str], authority: Any, work: Path, seconds: float = 20
) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, requests/s) of POST /api/v1/sign, one-page PDF, B-B, 8 clients, 2 server workers.

    Each client is another official with their own key and PIN, as at a national service: one official's
    requests are judged at most five at a time (the activation module counts attempts in flight)."""
    tokens = [_account(env, _issue_official(authority, "rsa2048")) for _ in range(8)]
    document = _one_page(work / "api-one-page.pdf").read_bytes()
    process, base = _server(env, workers=2)
    try:
        return _load(
            lambda session, number: session.post(
                f"{base}/api/v1/sign",
                headers={"Authorization": f"Bearer {tokens[number]}", "X-Activation-PIN": PIN},
                files={"file": ("one.pdf", document, "application/pdf")},
                data={"level": "B-B"},
            ),
            seconds,
        )
    finally:
        process.terminate()
        process.wait()


def signing_rows(env: dict[str, str], keys: int) -> list[tuple[str, str]]:
    work = Path(tempfile.mkdtemp(prefix="govsign-bench-signing-"))
    signing = _Signing(env, work)
    for warm in (signing.raw, signing.ours, lambda: signing.ours("B-B", "text")):
        warm()
    raw_ms = _median_ms(signing.raw, ROUNDS)
    ours_ms = _median_ms(signing.ours, ROUNDS)
    raw_again = _median_ms(signing.raw, ROUNDS)
    text_ms = _median_ms(lambda: signing.ours("B-B", "text"), ROUNDS)
    lta_ms = _median_ms(lambda: signing.ours("B-LTA", "none"), 10)
    raw = (raw_ms + raw_again) / 2
    rows = [
        (
            "invisible B-B, one-page PDF, RSA-2048: raw pyHanko (PKCS11Signer) / govsign with PIN activation, ms",
            f"{raw:.1f} / {ours_ms:.1f}",
        ),
        (
            "invisible B-B signatures/s, one process: govsign / raw pyHanko",
            f"{1000 / ours_ms:.1f} / {1000 / raw:.1f} = {raw / ours_ms:.2f}x",
        ),
        (
            "visible Vietnamese text stamp / invisible (B-B)",
            f"{text_ms:.1f} / {ours_ms:.1f} ms = {text_ms / ours_ms:.2f}x",
        ),
        ("B-LTA per document (TSA, DSS, archive time-stamp in-process)", f"{lta_ms:.0f} ms"),
        ("time shares of an invisible B-B signature (cProfile)", _profile_shares(signing)),
    ]
    one = _throughput(env, work, signing.serial, 1, ROUNDS)
    two = _throughput(env, work, signing.serial, 2, ROUNDS)
    rows.append(
        (
            "invisible B-B signatures/s: 1 process / 2 processes (govsign)",
            f"{one:.1f} / {two:.1f} = {two / one:.2f}x; 2 processes / raw pyHanko = {two * raw / 1000:.2f}x",
        )
    )
    p50, p99, rate = _api_latency(env, signing.authority, work)
    rows.append(
        (
            "POST /api/v1/sign, one-page B-B, 8 clients, 2 workers: p50 / p99 / req/s",
            f"{p50:.0f} ms / {p99:.0f} ms / {rate:.1f}",
        )
    )
    rows += _validation_rows(signing)
    rows += _big_file_rows(env, work, signing.serial)
    if keys:
        first, steady = _many_keys(signing, keys)
        rows.append(
            (
                f"B-B signing with {keys} more keys in the token: first in a new thread / median",
                f"{first:.0f} ms / {steady:.1f} ms (was {ours_ms:.1f})",
            )
        )
    return rows


if __name__ == "__main__":
    print(json.dumps(signing_rows(json.loads(sys.argv[1]), int(sys.argv[2])), ensure_ascii=False, indent=1))
