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
import functools
import hashlib
import io
import json
import multiprocessing
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_status import _free_port, _wait_for

ROUNDS = 60
PIN = "135790"  # the PIN the bench official chooses with the set-up code from registration
SCAN_PAGES = 56  # about 3.6 MB of noise per page: a 200 MB file
OFFICIAL = {
    "requesting_agency": "Sở Tư pháp thành phố Hà Nội",
    "request_ref": "BENCH-SIGN",
    "full_name": "Nguyễn Văn Ánh",
    "personal_id": "001085012345",
    "email": "nvanh@sotuphap.hanoi.gov.vn",
    "organisation": "Sở Tư pháp thành phố Hà Nội",
    "province": "Hà Nội",
}


def _authority(env: dict[str, str]) -> Any:
    os.environ.update(env)
    from govsign.config import runtime
    from govsign.config.settings import load_settings

    return runtime.open_authority_from(load_settings())


def _issue_official(authority: Any, algorithm: str) -> str:
    """A new official's certificate, its key made in the HSM, whose holder has taken control with ``PIN``."""
    from ca.hsm import KeyAlgorithm
    from ca.issuance import GenerateInHsm, issue_certificate
    from ca.profiles import CertificateKind, parse_request
    from ca.signing_keys import subscriber_key

    request = parse_request("individual", OFFICIAL)
    issued = issue_certificate(
        authority, CertificateKind.INDIVIDUAL, request, GenerateInHsm(KeyAlgorithm(algorithm)), actor="bench"
    )
    key_id = subscriber_key(authority, issued.serial_hex).key_id
    authority.activation_module().take_control(key_id, issued.setup_code, PIN, actor="bench holder")
    return str(issued.serial_hex)


def _one_page(path: Path) -> Path:
    import pikepdf

    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    content = pdf.make_stream(b"BT /F1 18 Tf 72 760 Td (Phieu ly lich tu phap) Tj ET")
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 595, 842],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
        Contents=content,
    )
    pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)
    return path


def _median_ms(function: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


class _Signing:
    """One official's key, our signing path and raw pyHanko's, on the same document."""

    def __init__(self, env: dict[str, str], work: Path, serial: str | None = None) -> None:
        from ca.signing_keys import subscriber_key
        from ca.status import StatusServices

        self.authority = _authority(env)
        self.services = StatusServices(self.authority)
        self.serial = serial or _issue_official(self.authority, "rsa2048")
        self.key = subscriber_key(self.authority, self.serial)
        self.env = env
        self.work = work
        self.source = _one_page(work / f"one-page-{os.getpid()}.pdf")
        self.data = self.source.read_bytes()
        self.document_sha256 = hashlib.sha256(self.data).digest()

    @functools.cached_property
    def raw_signer(self) -> Any:
        """pyHanko's PKCS11Signer on a persistent RSA-2048 key in the service token. Subscriber keys are no
        longer token objects, so the baseline gets a key of its own and borrows the official's certificate
        as signing_cert: its signatures do not match that certificate and are for timing only."""
        from asn1crypto import x509 as asn1_x509
        from cryptography.hazmat.primitives.serialization import Encoding
        from pyhanko.sign.pkcs11 import PKCS11Signer

        from ca import hsm
        from ca.hsm import KeyAlgorithm

        token = self.authority.token
        pair = token.generate_key_pair(KeyAlgorithm.RSA2048, "bench-raw-pyhanko-baseline")
        session = hsm.library_for(token.module_path).get_token(token_label=token.label).open()
        return PKCS11Signer(
            session,
            key_id=pair.key_id,
            signing_cert=asn1_x509.Certificate.load(self.key.certificate.public_bytes(Encoding.DER)),
            other_certs_to_pull=None,
        )

    def activated(self, document: Path | None = None) -> Any:
        """The official's key opened by their PIN for ``document`` (default: the one-page PDF), as every
        face of the service does: one activation, one signature."""
        from ca.signing_keys import activate_for_documents

        digest = self.document_sha256 if document is None else hashlib.sha256(document.read_bytes()).digest()
        return activate_for_documents(self.authority, self.key, PIN, [digest], actor="bench").key_for(digest)

    def raw(self) -> None:
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import fields, signers

        writer = IncrementalPdfFileWriter(io.BytesIO(self.data))
        metadata = signers.PdfSignatureMetadata(
            field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
        )
        signers.sign_pdf(writer, metadata, self.raw_signer, output=io.BytesIO())

    def ours(self, level: str = "B-B", appearance: str = "none") -> None:
        from signing.appearance import AppearanceMode, AppearanceRequest
        from signing.pades import Level, SigningOptions, sign_pdf

        options = SigningOptions(level=Level(level), appearance=AppearanceRequest(AppearanceMode(appearance)))
        target = self.work / f"out-{os.getpid()}.pdf"
        sign_pdf(self.services, self.activated(), self.source, target, options, actor="bench")


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


@functools.cache
def _account_token(env_json: str, serial: str) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "govsign", "account", "create-official", "--cert", serial],
        env={**os.environ, **json.loads(env_json)},
        capture_output=True,
        text=True,
    )
    if created.returncode != 0:
        raise RuntimeError(f"govsign account create-official failed: {created.stderr.strip()}")
    return created.stdout.strip().splitlines()[-1]


def _account(env: dict[str, str], serial: str) -> str:
    """The API token of the official's account (a certificate has one account: made once per run); the
    holder chose the PIN already, in :func:`_issue_official`."""
    return _account_token(json.dumps(env, sort_keys=True), serial)


def _server(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "govsign", "serve", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    _wait_for(f"{base}/healthz", process)
    return process, base


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
    env: dict[str, str], serial: str, work: Path, seconds: float = 20
) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, requests/s) of POST /api/v1/sign, one-page PDF, B-B, 8 clients, 2 server workers."""
    token = _account(env, serial)
    document = _one_page(work / "api-one-page.pdf").read_bytes()
    process, base = _server(env, workers=2)
    try:
        return _load(
            lambda session: session.post(
                f"{base}/api/v1/sign",
                headers={"Authorization": f"Bearer {token}", "X-Activation-PIN": PIN},
                files={"file": ("one.pdf", document, "application/pdf")},
                data={"level": "B-B"},
            ),
            seconds,
        )
    finally:
        process.terminate()
        process.wait()


def _load(request: Any, seconds: float, clients: int = 8) -> tuple[float, float, float]:
    """``clients`` threads repeating ``request(session)`` for ``seconds``: (p50 ms, p99 ms, requests/s);
    any answer other than 2xx stops the benchmark."""
    import httpx

    latencies: list[float] = []
    stop = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=120) as session:
            while time.monotonic() < stop:
                began = time.perf_counter()
                request(session).raise_for_status()
                latencies.append((time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)], len(ordered) / elapsed


def _validation_rows(signing: _Signing) -> list[tuple[str, str]]:
    """govsign's report against pyHanko's own validate_pdf_signature on the same one-page files (B-B, and
    B-LT and B-LTA offline), a document with five signatures, and the public API under load."""
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature
    from pyhanko.sign.validation.errors import NoDSSFoundError
    from pyhanko_certvalidator import ValidationContext

    from govsign.access.trust_store import trust_store
    from signing.fetch_policy import FetchPolicy
    from signing.pades import Level, SigningOptions, sign_pdf
    from signing.validation import validate_pdf

    trust = trust_store(signing.authority)
    root = asn1_x509.Certificate.load(signing.key.chain[-1].public_bytes(Encoding.DER))
    offline = FetchPolicy(enabled=False)

    def signed_at(level: Level) -> Path:
        target = signing.work / f"validate-{level.value}.pdf"
        key, options = signing.activated(), SigningOptions(level=level)
        sign_pdf(signing.services, key, signing.source, target, options, actor="b")
        return target

    def pyhanko_alone(path: Path) -> None:
        with path.open("rb") as stream:
            reader = PdfFileReader(stream)
            settings: dict[str, Any] = {"trust_roots": [root], "allow_fetching": False}
            try:
                context = DocumentSecurityStore.read_dss(reader).as_validation_context(settings)
            except NoDSSFoundError:
                context = ValidationContext(**settings)
            validate_pdf_signature(reader.embedded_regular_signatures[0], context, context)

    rows = []
    for level in (Level.B_B, Level.B_LT, Level.B_LTA):
        path = signed_at(level)
        ours = _median_ms(lambda path=path: validate_pdf(path, trust, offline), 20)
        theirs = _median_ms(lambda path=path: pyhanko_alone(path), 20)
        rows.append(
            (
                f"validation of a one-page {level.value}, offline: govsign report / pyHanko "
                "validate_pdf_signature (ms, validations/s)",
                f"{ours:.0f} / {theirs:.0f} ms; {1000 / ours:.1f} / {1000 / theirs:.1f} per s",
            )
        )
    five = signing.source
    for number in range(5):
        target = signing.work / f"five-{number}.pdf"
        key = signing.activated(five)
        sign_pdf(signing.services, key, five, target, SigningOptions(level=Level.B_LT), actor="b")
        five = target
    five_ms = _median_ms(lambda: validate_pdf(five, trust, offline), 5)
    rows.append(("validation of a document with 5 B-LT signatures, offline", f"{five_ms:.0f} ms"))
    p50, p99, rate = _verify_latency(signing.env, signing.work / "validate-B-LT.pdf")
    rows.append(
        (
            "POST /api/v1/verify, one-page B-LT, 8 clients, 2 workers: p50 / p99 / req/s",
            f"{p50:.0f} ms / {p99:.0f} ms / {rate:.1f}",
        )
    )
    return rows


def _verify_latency(env: dict[str, str], document: Path, seconds: float = 20) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, requests/s) of the public validation API; the per-address limit is lifted, since
    the 8 clients share one address here."""
    process, base = _server(
        {**env, "GOVSIGN_VERIFY_RATE_PER_SECOND": "10000", "GOVSIGN_VERIFY_BURST": "10000"}, 2
    )
    try:
        return _load(
            lambda session: session.post(
                f"{base}/api/v1/verify",
                files={"file": ("b-lt.pdf", document.read_bytes(), "application/pdf")},
            ),
            seconds,
        )
    finally:
        process.terminate()
        process.wait()


def validation_rows(env: dict[str, str]) -> list[tuple[str, str]]:
    """The validation rows alone (bench.py --only validation)."""
    return _validation_rows(_Signing(env, Path(tempfile.mkdtemp(prefix="govsign-bench-validation-"))))


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
    p50, p99, rate = _api_latency(env, signing.serial, work)
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
