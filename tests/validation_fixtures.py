"""Fixtures the validation test modules share: the SQLite deployment's status services, a one-page
document, and the deployment's trust store. Modules use them with ``pytest_plugins``-free imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from ca.status import StatusServices
from govsign.access.trust_store import trust_store
from signing.validation import TrustStore
from tests.conftest import Deployment
from tests.pdf_samples import one_page_pdf

__all__ = ["document", "services", "trust"]


@pytest.fixture(scope="module")
def services(sqlite_deployment: Deployment) -> StatusServices:
    return StatusServices(sqlite_deployment.authority)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_page_pdf(tmp_path_factory.mktemp("validation") / "ket-qua.pdf")


@pytest.fixture(scope="module")
def trust(sqlite_deployment: Deployment) -> TrustStore:
    return trust_store(sqlite_deployment.authority)
