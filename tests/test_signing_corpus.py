"""What offices really send: 36 generated PDFs (tests/pdf_corpus.py). Each either signs, and then pdfsig
finds every signature valid (earlier ones included) and ours trusted, or is refused with the reason the
corpus expects and no output; damaged unsigned files sign only with repair allowed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ca.signing_keys import SubscriberKey, subscriber_key
from ca.status import StatusServices
from signing.appearance import AppearanceMode, AppearanceRequest
from signing.errors import DocumentRefused, InvalidDocument, SigningError
from signing.pades import Level, SigningOptions
from tests.conftest import Deployment, issue_in_hsm, sign_as_holder
from tests.pdf_corpus import CorpusPdf, build_corpus

CORPUS_FOLDER = Path("/tmp") / f"govsign-corpus-{__import__('os').getpid()}"
CORPUS = build_corpus(CORPUS_FOLDER)
REFUSAL_WORDS = {
    "not-pdf": (InvalidDocument, "not a PDF"),
    "truncated": (InvalidDocument, "damaged"),
    "encrypted-no-password": (InvalidDocument, "give its password"),
    "docmdp-forbids": (DocumentRefused, "DocMDP P=1"),
    "damaged": (InvalidDocument, "allow repair"),
}


@pytest.fixture(scope="module")
def key(sqlite_deployment: Deployment) -> SubscriberKey:
    return subscriber_key(sqlite_deployment.authority, issue_in_hsm(sqlite_deployment))


@pytest.fixture(scope="module")
def services(sqlite_deployment: Deployment) -> StatusServices:
    return StatusServices(sqlite_deployment.authority)


def pdfsig_blocks(nss_db: str, path: Path, password: str | None) -> list[str]:
    command = ["pdfsig", "-nssdir", nss_db, *(("-upw", password) if password else ()), str(path)]
    report = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False).stdout
    return [
        block
        for block in report.split("Signature #")[1:]
        if "Signature Type: unknown" not in block
        and "is not signed" not in block  # time-stamps, empty fields
    ]


@pytest.mark.parametrize("entry", CORPUS, ids=[entry.name for entry in CORPUS])
def test_corpus_document(
    entry: CorpusPdf,
    key: SubscriberKey,
    services: StatusServices,
    public_server: str,
    nss_db: str,
    tmp_path: Path,
) -> None:
    target = tmp_path / "signed.pdf"
    options = SigningOptions(
        level=Level.B_T,
        appearance=AppearanceRequest(AppearanceMode.TEXT),
        password=entry.password,
        repair=entry.expect == "repair",
        field=entry.field,
    )
    if entry.expect == "refuse" or (entry.expect == "repair" and not options.repair):
        error_class, words = REFUSAL_WORDS[entry.reason]
        with pytest.raises(error_class, match=words):
            sign_as_holder(services, key, entry.path, target, options, actor="test")
        assert not target.exists() and list(tmp_path.iterdir()) == []
        return
    earlier = len(pdfsig_blocks(nss_db, entry.path, entry.password))
    signed = sign_as_holder(services, key, entry.path, target, options, actor="test")
    assert signed.repaired == (entry.expect == "repair")
    blocks = pdfsig_blocks(nss_db, target, entry.password)
    assert len(blocks) == earlier + 1, blocks
    assert all("Signature is Valid." in block for block in blocks), blocks
    ours = next(block for block in blocks if f"Signature Field Name: {signed.field_name}\n" in block)
    assert "Certificate is Trusted." in ours, ours  # listed in field order: not always the last one


def test_damaged_files_are_refused_without_repair(
    key: SubscriberKey, services: StatusServices, tmp_path: Path
) -> None:
    damaged = [entry for entry in CORPUS if entry.expect == "repair"]
    assert len(damaged) >= 3
    for entry in damaged:
        with pytest.raises(SigningError, match="allow repair"):
            sign_as_holder(
                services, key, entry.path, tmp_path / "out.pdf", SigningOptions(level=Level.B_B), actor="t"
            )
    assert list(tmp_path.iterdir()) == []
