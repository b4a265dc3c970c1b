"""Benchmarks of the validation report, run by scripts/bench.py (``--only validation``, and within the
signing rows): govsign's report against pyHanko's own validator on the same files, a document with five
signatures, and the public API under load.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench_official import _load, _median_ms, _server, _Signing


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
            lambda session, _number: session.post(
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
