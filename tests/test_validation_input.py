"""Hostile documents sent to the validator: mutated, truncated and deeply nested PDFs each get a report
or a clear refusal (422, exit code 2), never a 500, a traceback or a RecursionError; and the public API
refuses a client past its rate."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import httpx
import jsonschema
import pytest

from ca.status import StatusServices
from govsign.api.verify import report_schema
from signing.errors import InvalidDocument
from signing.fetch_policy import FetchPolicy
from signing.pades import Level
from signing.validation import TrustStore, validate_pdf
from tests.conftest import Deployment, running_server
from tests.validation_fixtures import sign_by_official

# every report below is also written as ETSI TS 119 102-2 XML and must agree with it (tests/etsi_checks.py)
pytestmark = pytest.mark.usefixtures("etsi_report_of_every_validation")


def test_a_thousand_mutated_pdfs_each_get_a_report_or_a_clear_refusal(
    services: StatusServices, sqlite_deployment: Deployment, trust: TrustStore, document: Path, tmp_path: Path
) -> None:
    """Byte flips, truncations and duplicated cross-reference sections of a signed B-LTA document: every
    mutant gets a report or InvalidDocument, none an unexpected exception, none more than 10 s."""
    signed = tmp_path / "signed.pdf"
    sign_by_official(services, sqlite_deployment, document, signed, Level.B_LTA)
    original = signed.read_bytes()
    randomness = random.Random(20261122)
    mutant = tmp_path / "mutant.pdf"
    slowest = 0.0
    outcomes = {"report": 0, "refused": 0}
    schema = jsonschema.Draft202012Validator(report_schema())
    for number in range(1000):
        data = bytearray(original)
        kind = number % 3
        if kind == 0:
            for _ in range(randomness.randint(1, 8)):
                data[randomness.randrange(len(data))] = randomness.randrange(256)
        elif kind == 1:
            del data[randomness.randrange(1, len(data)) :]
        else:
            start = data.rfind(b"xref") if b"xref" in data else len(data) // 2
            data[start:start] += data[start : start + randomness.randint(20, 400)]
        mutant.write_bytes(bytes(data))
        began = time.monotonic()
        try:
            report = validate_pdf(mutant, trust, FetchPolicy(enabled=False))
            outcomes["report"] += 1
            schema.validate(report.to_json())
        except InvalidDocument:
            outcomes["refused"] += 1
        slowest = max(slowest, time.monotonic() - began)
    assert slowest < 10, f"one mutant took {slowest:.1f} s"
    assert outcomes["report"] > 0 and outcomes["refused"] > 0, outcomes


def deeply_nested(pdf: bytes, depth: int, where: str) -> bytes:
    """``pdf`` with an incremental update holding ``depth`` nested arrays, either in the trailer (read on
    opening) or as the document's /Info (read only when the changes after signing are analysed)."""
    previous = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    size = int(re.findall(rb"/Size (\d+)", pdf)[-1])
    root = re.findall(rb"/Root (\d+ \d+ R)", pdf)[-1].decode()
    nested = "[" * depth + "]" * depth
    if where == "trailer":
        update = f"xref\n0 0\ntrailer\n<</Size {size} /Root {root} /Prev {previous} /Deep {nested}>>\n"
        return pdf + update.encode() + f"startxref\n{len(pdf)}\n%%EOF\n".encode()
    body = f"{size} 0 obj\n{nested}\nendobj\n".encode()
    xref = (
        f"xref\n{size} 1\n{len(pdf):010d} 00000 n \ntrailer\n<</Size {size + 1} /Root {root} /Prev {previous}"
    )
    tail = f" /Info {size} 0 R>>\nstartxref\n{len(pdf) + len(body)}\n%%EOF\n"
    return pdf + body + (xref + tail).encode()


def test_a_hundred_thousand_nested_arrays_get_a_refusal_or_a_verdict_never_a_500(
    services: StatusServices,
    sqlite_deployment: Deployment,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    """Nested where the reader meets it at once: 422 and exit code 2, saying why; nested where only the
    difference analysis meets it: a report (the changes not analysed) and exit code 1."""
    signed = tmp_path / "signed.pdf"
    sign_by_official(services, sqlite_deployment, document, signed, Level.B_B)
    for where, status, exit_code in (("trailer", 422, 2), ("info", 200, 1)):
        nested = tmp_path / f"nested-{where}.pdf"
        nested.write_bytes(deeply_nested(signed.read_bytes(), 100_000, where))
        answer = httpx.post(
            f"{public_server}/api/v1/verify", files={"file": ("n.pdf", nested.read_bytes())}, timeout=60
        )
        assert answer.status_code == status, answer.text
        cli = sqlite_deployment.cli("verify", str(nested), "--offline", check=False)
        assert cli.returncode == exit_code, cli.stderr
        if status == 422:
            assert "cannot be read (RecursionError" in answer.json()["detail"]
            assert "cannot be read (RecursionError" in cli.stderr and "Traceback" not in cli.stderr
        else:
            assert "INDETERMINATE" in cli.stdout or "TOTAL_FAILED" in cli.stdout, cli.stdout
            verdict = answer.json()["signatures"][0]
            assert verdict["indication"] != "TOTAL_PASSED" and verdict["modifications"].startswith(
                "not analysed"
            )


def test_the_public_api_limits_each_client_to_the_configured_rate(sqlite_deployment: Deployment) -> None:
    with running_server(
        sqlite_deployment, GOVSIGN_VERIFY_RATE_PER_SECOND="0.01", GOVSIGN_VERIFY_BURST="2"
    ) as base:
        answers = [
            httpx.post(f"{base}/api/v1/verify", files={"file": ("x.pdf", b"not a pdf")}, timeout=60)
            for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [422, 422, 429]
    assert "too many validations from your address" in answers[2].json()["detail"]
