"""Signing what breaks naive signers: a signature larger than the room reserved for it, outputs that must
honour the umask, documents that would take too long, and files with quirks poppler and qpdf accept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature, validate_pdf_timestamp

from ca.signing_keys import SubscriberKey, subscriber_key
from ca.status import StatusServices
from signing import pades
from signing.aes256_revision5 import decrypt
from signing.errors import DocumentTookTooLong
from signing.pades import Level, SigningOptions
from tests.conftest import Deployment, issue_in_hsm, sign_as_holder
from tests.pdf_quirks import (
    aes256_with_clear_text_metadata,
    archived_by_a_foreign_tsa,
    signed_hybrid_reference,
    signed_twice_with_whitespace_before_xref,
    unreadable_xmp,
)
from tests.pdf_samples import one_page_pdf
from tests.test_document_quirks import encrypted
from tests.test_pades import approval_signature_reports, assert_pdfsig_valid_and_trusted, pdfsig, root_asn1


@pytest.fixture(scope="module")
def services(sqlite_deployment: Deployment) -> StatusServices:
    return StatusServices(sqlite_deployment.authority)


@pytest.fixture(scope="module")
def key(sqlite_deployment: Deployment) -> SubscriberKey:
    return subscriber_key(sqlite_deployment.authority, issue_in_hsm(sqlite_deployment))


@pytest.fixture
def document(tmp_path: Path) -> Path:
    return one_page_pdf(tmp_path / "input.pdf")


@pytest.mark.parametrize("room", [1000, 1002, 1004, 1006])
def test_a_signature_larger_than_its_room_is_made_again_at_an_even_size(
    room: int,
    services: StatusServices,
    key: SubscriberKey,
    public_server: str,
    nss_db: str,
    document: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pyHanko wants /Contents in whole bytes (an even count of hex digits); the retry's size, the real one
    with a quarter to spare, must be too, whatever the real size was."""
    monkeypatch.setattr(pades, "_reservation", lambda *_: room)
    target = tmp_path / "signed.pdf"
    sign_as_holder(services, key, document, target, SigningOptions(level=Level.B_T), actor="t")
    assert_pdfsig_valid_and_trusted(nss_db, target, expected=1)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_honour_the_umask(
    umask: int,
    mode: int,
    services: StatusServices,
    key: SubscriberKey,
    document: Path,
    tmp_path: Path,
) -> None:
    """An output is written atomically (a private temporary file renamed into place), yet gets the mode any
    other new file would get under the caller's umask."""
    target = tmp_path / "signed.pdf"
    previous = os.umask(umask)
    try:
        sign_as_holder(services, key, document, target, SigningOptions(level=Level.B_B), actor="t")
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == mode


def test_a_document_past_the_time_limit_is_refused_and_nothing_is_written(
    services: StatusServices, key: SubscriberKey, document: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "signed.pdf"
    target.parent.mkdir()
    options = SigningOptions(level=Level.B_LTA, time_limit_seconds=0.001)
    with pytest.raises(DocumentTookTooLong, match=r"longer than the limit of 0\.001 s per document"):
        sign_as_holder(services, key, document, target, options, actor="t")
    assert list(target.parent.iterdir()) == []


def test_two_signatures_over_whitespace_before_xref_are_countersigned_as_they_are(
    services: StatusServices, key: SubscriberKey, public_server: str, nss_db: str, tmp_path: Path
) -> None:
    """qpdf warns ("extraneous whitespace seen before xref"), poppler and pyHanko read it: the file is
    countersigned by an incremental update and the earlier signatures stay valid."""
    source = signed_twice_with_whitespace_before_xref(tmp_path)
    target = tmp_path / "countersigned.pdf"
    signed = sign_as_holder(services, key, source, target, SigningOptions(level=Level.B_T), actor="t")
    assert not signed.repaired and target.read_bytes().startswith(source.read_bytes())
    blocks = list(approval_signature_reports(pdfsig(nss_db, target)))
    assert len(blocks) == 3 and all("Signature is Valid." in block for block in blocks), blocks
    assert signed.strict_reader_note is None


def test_a_hybrid_reference_file_is_countersigned_and_the_result_says_strict_readers_refuse_it(
    services: StatusServices, key: SubscriberKey, public_server: str, nss_db: str, tmp_path: Path
) -> None:
    source = signed_hybrid_reference(tmp_path)
    target = tmp_path / "countersigned.pdf"
    signed = sign_as_holder(services, key, source, target, SigningOptions(level=Level.B_T), actor="t")
    assert target.read_bytes().startswith(source.read_bytes())
    blocks = list(approval_signature_reports(pdfsig(nss_db, target)))
    assert len(blocks) == 2 and all("Signature is Valid." in block for block in blocks), blocks
    assert signed.strict_reader_note is not None and "hybrid" in signed.strict_reader_note


def test_b_lta_over_another_tsas_archive_adds_ours(
    services: StatusServices,
    key: SubscriberKey,
    sqlite_deployment: Deployment,
    public_server: str,
    nss_db: str,
    tmp_path: Path,
) -> None:
    source = archived_by_a_foreign_tsa(tmp_path)
    target = tmp_path / "signed.pdf"
    signed = sign_as_holder(services, key, source, target, SigningOptions(level=Level.B_LTA), actor="t")
    assert signed.archive_note is not None and "Foreign Test Signer" in signed.archive_note
    blocks = list(approval_signature_reports(pdfsig(nss_db, target)))
    assert len(blocks) == 2 and all("Signature is Valid." in block for block in blocks), blocks
    assert lta_problem(target, None, sqlite_deployment) is None
    with target.open("rb") as stream:
        assert len(PdfFileReader(stream).embedded_timestamp_signatures) == 2  # theirs, then ours


@pytest.mark.parametrize("maker", ["aes256-clear-metadata", "unreadable-xmp"])
def test_metadata_pyhanko_cannot_rewrite_is_left_as_it_is_up_to_b_lta(
    maker: str,
    services: StatusServices,
    key: SubscriberKey,
    sqlite_deployment: Deployment,
    public_server: str,
    nss_db: str,
    tmp_path: Path,
) -> None:
    """XMP in clear text inside an AES-256 file (pyHanko "decrypts" it and fails on the block length), or
    XMP that is not XML: the signature, its DSS and the archive time-stamp are added without touching it."""
    password = "user-secret" if maker == "aes256-clear-metadata" else None
    source = (
        aes256_with_clear_text_metadata(tmp_path, "user-secret") if password else unreadable_xmp(tmp_path)
    )
    target = tmp_path / "signed.pdf"
    options = SigningOptions(level=Level.B_LTA, password=password)
    sign_as_holder(services, key, source, target, options, actor="t")
    blocks = list(approval_signature_reports(pdfsig(nss_db, target, password)))
    assert len(blocks) == 1 and "Signature is Valid." in blocks[0], blocks
    # pyHanko's own difference analysis "decrypts" the clear-text metadata too and fails (its bug, not the
    # file's): the signature is judged without it there; pdfsig above judged the whole file.
    assert lta_problem(target, password, sqlite_deployment, check_changes=password is None) is None


def lta_problem(
    path: Path, password: str | None, deployment: Deployment, *, check_changes: bool = False
) -> str | None:
    """None when the newest signature (ours) and the newest document time-stamp are intact, valid and
    trusted by our root with only what the document's DSS carries; else what pyHanko's validator found."""
    with path.open("rb") as stream:
        reader = PdfFileReader(stream, strict=False)
        if reader.encrypted:
            decrypt(reader, password)  # revision 5 too, which pyHanko alone does not open
        context = DocumentSecurityStore.read_dss(reader).as_validation_context(
            {"trust_roots": [root_asn1(deployment)], "allow_fetching": False}
        )
        signature = reader.embedded_regular_signatures[-1]
        status = validate_pdf_signature(signature, context, context, skip_diff=not check_changes)
        if not (status.intact and status.valid and status.trusted):
            return status.summary()
        stamps = reader.embedded_timestamp_signatures
        if not stamps:
            return "no document time-stamp"
        archive = validate_pdf_timestamp(stamps[-1], validation_context=context)
        if not (archive.intact and archive.valid and archive.trusted):
            return f"document time-stamp: {archive.summary()}"
    return None


@pytest.mark.parametrize(("user", "level"), [("", Level.B_T), ("user-secret", Level.B_LTA)])
def test_aes_256_revision_5_files_are_signed_with_their_password_or_none(
    user: str,
    level: Level,
    services: StatusServices,
    key: SubscriberKey,
    sqlite_deployment: Deployment,
    public_server: str,
    nss_db: str,
    tmp_path: Path,
) -> None:
    source = encrypted(tmp_path, "r5", 5, user=user, aes=True, metadata=True)
    target = tmp_path / "signed.pdf"
    password = user or None
    sign_as_holder(services, key, source, target, SigningOptions(level=level, password=password), actor="t")
    blocks = list(approval_signature_reports(pdfsig(nss_db, target, password)))
    assert len(blocks) == 1 and "Signature is Valid." in blocks[0], blocks
    if level is Level.B_LTA:
        assert lta_problem(target, password, sqlite_deployment) is None
