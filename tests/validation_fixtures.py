"""Fixtures the validation test modules share (the SQLite deployment's status services, a one-page document,
the deployment's trust store; registered in tests/conftest.py's ``pytest_plugins``), and their helpers: an
official's key, a document they signed, the single verdict of a report, a tampered copy, pdfsig's verdict."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ca.signing_keys import SubscriberKey, subscriber_key
from ca.status import StatusServices
from govsign.access.trust_store import trust_store
from govsign.config.verification import fetch_policy
from signing.fetch_policy import FetchPolicy
from signing.pades import Level, SigningOptions
from signing.validation import Indication, SignatureVerdict, TrustStore, ValidationReport, validate_pdf
from tests.conftest import Deployment, issue_in_hsm, sign_as_holder
from tests.etsi_checks import assert_etsi_report_of
from tests.pdf_samples import one_page_pdf

__all__ = [
    "document",
    "etsi_report_of_every_validation",
    "official_key",
    "online",
    "only",
    "only_verdict",
    "pdfsig_integrity",
    "services",
    "sign_by_official",
    "signed_and_changed",
    "tamper",
    "trust",
]


@pytest.fixture(scope="module")
def services(sqlite_deployment: Deployment) -> StatusServices:
    return StatusServices(sqlite_deployment.authority)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_page_pdf(tmp_path_factory.mktemp("validation") / "ket-qua.pdf")


@pytest.fixture(scope="module")
def trust(sqlite_deployment: Deployment) -> TrustStore:
    return trust_store(sqlite_deployment.authority)


def official_key(deployment: Deployment) -> SubscriberKey:
    return subscriber_key(deployment.authority, issue_in_hsm(deployment))


def sign_by_official(
    services: StatusServices, deployment: Deployment, document: Path, target: Path, level: Level
) -> None:
    """``document`` signed at ``level`` into ``target`` by a new official's key in the HSM."""
    sign_as_holder(
        services, official_key(deployment), document, target, SigningOptions(level=level), actor="t"
    )


def signed_and_changed(
    services: StatusServices,
    deployment: Deployment,
    document: Path,
    folder: Path,
    level: Level,
    change: Callable[[Path], bytes],
) -> tuple[Path, Path]:
    """``document`` signed at ``level`` by a new official, and a copy of that changed by ``change`` (the
    signed file's path -> the changed file's bytes), in ``folder``."""
    signed, changed = folder / "signed.pdf", folder / "changed.pdf"
    sign_by_official(services, deployment, document, signed, level)
    changed.write_bytes(change(signed))
    return signed, changed


def online(deployment: Deployment) -> FetchPolicy:
    return fetch_policy(deployment.settings)


def only(report: ValidationReport, kind: str = "signature") -> tuple[Indication, str | None]:
    verdicts = [v for v in report.signatures if v.kind == kind]
    assert len(verdicts) == 1, report
    return verdicts[0].indication, verdicts[0].sub_indication


def only_verdict(report: ValidationReport) -> SignatureVerdict:
    """The report's single signature verdict (document time-stamps aside)."""
    verdicts = [v for v in report.signatures if v.kind == "signature"]
    assert len(verdicts) == 1, report
    return verdicts[0]


def tamper(data: bytes) -> bytes:
    """One byte changed inside the first signed range: the page's width, 595 -> 596 points."""
    assert data.count(b"595") >= 1
    return data.replace(b"595", b"596", 1)


def pdfsig_integrity(path: Path) -> list[bool]:
    """pdfsig's own verdict on each signature's integrity (not on trust)."""
    report = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False).stdout
    blocks = [b for b in report.split("Signature #")[1:] if "Signature Type: unknown" not in b]
    return ["Signature is Valid." in block for block in blocks]


@pytest.fixture
def etsi_report_of_every_validation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every report the test module's ``validate_pdf`` makes is also written as an ETSI TS 119 102-2 report,
    parsed back through the standard's bindings, and must carry the same indications (the validation matrix
    then checks the XML on every case it crafts)."""

    def validated_and_reported(source: Path, trust: TrustStore, fetching: FetchPolicy) -> ValidationReport:
        report = validate_pdf(source, trust, fetching)
        assert_etsi_report_of(source, report, trust)
        return report

    monkeypatch.setattr(request.module, "validate_pdf", validated_and_reported)
