"""What the signing, validation and activation benchmarks share, run by scripts/bench.py: the bench
deployment's authority, an official whose key the HSM made and who chose a PIN for it, their account and
a server of the deployment, a one-page document signed by our path and by raw pyHanko, and the timers.

Everything from govsign is imported late, inside the functions: bench.py configures SoftHSM first.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_status import _free_port, _wait_for

PIN = "135790"  # the PIN the bench official chooses with the set-up code from registration


def official_request(reference: str) -> dict[str, str]:
    """The bench official's registration request, filed under ``reference`` (found again by it)."""
    return {
        "requesting_agency": "Sở Tư pháp thành phố Hà Nội",
        "request_ref": reference,
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

    request = parse_request("individual", official_request("BENCH-SIGN"))
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


def _load(request: Any, seconds: float, clients: int = 8) -> tuple[float, float, float]:
    """``clients`` threads repeating ``request(session, client_number)`` for ``seconds``: (p50 ms, p99 ms,
    requests/s). An answer other than 2xx fails the benchmark (at the end, with the first such answer),
    rather than leaving fewer clients to be measured."""
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    stop = time.monotonic() + seconds

    def client(number: int) -> None:
        with httpx.Client(timeout=120) as session:
            while time.monotonic() < stop and not failures:
                began = time.perf_counter()
                response = request(session, number)
                if response.is_error:
                    failures.append(f"{response.status_code} {response.text[:300]}")
                    return
                latencies.append((time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"a benchmark client was refused: {failures[0]}")
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)], len(ordered) / elapsed
