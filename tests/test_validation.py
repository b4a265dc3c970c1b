"""The validation report against documents the tests craft, with the indication each must get; integrity
verdicts checked against poppler's pdfsig. The CLI, the API and the pages: test_validation_faces.py."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy import func, select

from ca import clock
from ca.reasons import RevocationReason
from ca.status import StatusServices
from ca.store import CertificateRecord
from govsign.access.trust_store import trust_store
from govsign.config.verification import fetch_policy
from signing.cms_signer import HsmSigner, signature_algorithm_for
from signing.pades import Level, SigningOptions
from signing.trust_services import InProcessTimeStamper, chain_validation_context
from signing.validation import Indication, SubIndication, TrustAnchor, TrustStore, validate_pdf
from signing.validation.report import CertificateStanding
from tests.conftest import Deployment, as_holder, sign_as_holder
from tests.fetch_origins import partner_ca, partner_signed
from tests.pdf_corpus import foreign_ca, pyhanko_sign
from tests.validation_fixtures import (
    official_key,
    online,
    only,
    pdfsig_integrity,
    sign_by_official,
    signed_and_changed,
    tamper,
)

# every report below is also written as ETSI TS 119 102-2 XML and must agree with it (tests/etsi_checks.py)
pytestmark = pytest.mark.usefixtures("etsi_report_of_every_validation")


def test_every_sub_indication_pyhanko_can_report_has_its_etsi_name_in_the_report() -> None:
    names = {problem.name for problem in [*AdESFailure, *AdESIndeterminate]}
    assert names == {sub.value for sub in SubIndication}


@pytest.mark.parametrize("level", list(Level))
def test_valid_documents_pass_and_long_term_ones_need_no_network(
    level: Level,
    services: StatusServices,
    sqlite_deployment: Deployment,
    trust: TrustStore,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    signed = tmp_path / "signed.pdf"
    sign_by_official(services, sqlite_deployment, document, signed, level)
    offline = level in (Level.B_LT, Level.B_LTA)
    report = validate_pdf(signed, trust, fetch_policy(sqlite_deployment.settings, offline=offline))
    assert only(report) == (Indication.TOTAL_PASSED, None), report
    assert "EN 319 102-1" in report.policy_en and "govsign root CA" in report.policy_vi
    assert ("offline" in report.policy_en) is offline and ("ngoại tuyến" in report.policy_vi) is offline
    verdict = next(v for v in report.signatures if v.kind == "signature")
    assert verdict.level == level.value
    assert verdict.signer is not None and verdict.signer.common_name == "Nguyễn Văn Ánh"
    assert verdict.signing_time and verdict.signing_time.endswith("+07:00")
    assert verdict.trust_anchor == "govsign root CA"
    leaf, issuing, root = verdict.chain  # each certificate, and where its status came from
    assert (
        "Nguyễn Văn Ánh" in leaf.subject and leaf.issuer == issuing.subject and issuing.issuer == root.subject
    )
    assert leaf.key == "EC P-256" and leaf.not_after.endswith("+07:00")
    assert leaf.standing is CertificateStanding.GOOD and leaf.status_source.startswith("OCSP produced")
    assert "OCSP" in leaf.status_source.split(" by ")[1]  # the responder's name
    assert issuing.standing is CertificateStanding.GOOD and issuing.status_source.startswith("CRL #")
    assert root.standing is CertificateStanding.TRUST_ANCHOR
    if level is Level.B_B:
        assert verdict.timestamp is None
    else:
        assert verdict.timestamp is not None and "Time-Stamping" in verdict.timestamp.tsa
        assert verdict.timestamp.time.endswith("+07:00")
    assert pdfsig_integrity(signed) == [True]
    if level is Level.B_LTA:
        assert only(report, "document-timestamp") == (Indication.TOTAL_PASSED, None)


def test_one_byte_changed_inside_the_signed_range_is_a_hash_failure_and_pdfsig_agrees(
    services: StatusServices, sqlite_deployment: Deployment, trust: TrustStore, document: Path, tmp_path: Path
) -> None:
    signed = tmp_path / "signed.pdf"
    sign_by_official(services, sqlite_deployment, document, signed, Level.B_B)
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(tamper(signed.read_bytes()))
    report = validate_pdf(tampered, trust, online(sqlite_deployment))
    assert only(report) == (Indication.TOTAL_FAILED, "HASH_FAILURE")
    assert "thay đổi" in report.signatures[0].summary_vi
    assert pdfsig_integrity(tampered) == [False]


def _with_a_blank_page_appended(signed: Path) -> bytes:
    """``signed`` plus a blank page, added in an incremental update as a tamperer would add it."""
    # pyHanko leaves these unannotated; the casts state the types its documentation gives.
    dictionary = cast(
        Callable[[dict[generic.NameObject, generic.PdfObject]], generic.DictionaryObject],
        generic.DictionaryObject,
    )
    number = cast(Callable[[int], generic.NumberObject], generic.NumberObject)
    with signed.open("rb") as stream:
        writer = IncrementalPdfFileWriter(stream)
        insert_page = cast(Callable[[generic.DictionaryObject], generic.IndirectObject], writer.insert_page)
        write = cast(Callable[[BinaryIO], None], writer.write)
        insert_page(
            dictionary(
                {
                    generic.pdf_name("/Type"): generic.pdf_name("/Page"),
                    generic.pdf_name("/MediaBox"): generic.ArrayObject([number(n) for n in (0, 0, 595, 842)]),
                    generic.pdf_name("/Contents"): writer.add_object(
                        generic.StreamObject(stream_data=b"BT ET")
                    ),
                }
            )
        )
        added = io.BytesIO()
        write(added)
    return added.getvalue()


def test_a_page_added_after_signing_is_reported_and_not_passed(
    services: StatusServices, sqlite_deployment: Deployment, trust: TrustStore, document: Path, tmp_path: Path
) -> None:
    _, modified = signed_and_changed(
        services, sqlite_deployment, document, tmp_path, Level.B_LT, _with_a_blank_page_appended
    )
    report = validate_pdf(modified, trust, fetch_policy(sqlite_deployment.settings, offline=True))
    indication, _ = only(report)
    assert indication is not Indication.TOTAL_PASSED
    verdict = report.signatures[0]
    assert [(c.kind, c.page, c.allowed) for c in verdict.changes if c.kind != "dss_added"] == [
        ("page_added", 2, False)
    ], verdict.changes
    assert "Page 2 was added after signing: not allowed" in verdict.modifications
    assert "Trang 2 được thêm sau khi ký: không được phép" in verdict.modifications_vi
    assert pdfsig_integrity(modified) == [True]  # the signed bytes themselves are intact


def _seconds_ago(deployment: Deployment, seconds: float) -> dt.datetime:
    """``seconds`` before now, where a test moves govsign's clock back to so that a revocation or an expiry
    already lies in the past when pyHanko judges on the real clock. The deployment's time-stamping
    certificate (its youngest) must be valid by then: only a test run alone, straight after the
    deployment's ceremony, ever waits for that."""
    with deployment.authority.database.transaction() as session:
        certified = session.scalar(
            select(func.max(CertificateRecord.not_before)).where(CertificateRecord.profile == "tsa")
        )
    assert certified is not None, "the ceremony certifies a time-stamping key"
    time.sleep(max(0.0, (certified + dt.timedelta(seconds=seconds) - clock.now()).total_seconds()))
    return clock.now() - dt.timedelta(seconds=seconds)


def test_revocation_without_and_with_proof_of_the_signing_time(
    services: StatusServices,
    sqlite_deployment: Deployment,
    trust: TrustStore,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    """Revoked after signing: a B-B signature cannot prove it came first (REVOKED_NO_POE); a B-T one can.

    Revocation times are whole seconds: issued and signed a second ago on govsign's clock, revoked now, the
    revocation comes at least a whole second after the time-stamp, without waiting for it."""
    with clock.frozen(_seconds_ago(sqlite_deployment, 1)):
        key = official_key(sqlite_deployment)
        plain, stamped = tmp_path / "b-b.pdf", tmp_path / "b-t.pdf"
        sign_as_holder(services, key, document, plain, SigningOptions(level=Level.B_B), actor="t")
        sign_as_holder(services, key, document, stamped, SigningOptions(level=Level.B_T), actor="t")
    services.revoke(key.serial, RevocationReason.CESSATION_OF_OPERATION, actor="t")
    assert only(validate_pdf(plain, trust, online(sqlite_deployment))) == (
        Indication.INDETERMINATE,
        "REVOKED_NO_POE",
    )
    assert only(validate_pdf(stamped, trust, online(sqlite_deployment))) == (Indication.TOTAL_PASSED, None)


def test_foreign_signatures_need_their_root_and_then_pass(
    sqlite_deployment: Deployment, trust: TrustStore, document: Path, tmp_path: Path
) -> None:
    """(The foreign leaf's CRL travels in the document: without revocation data it could not pass.)"""
    ca = partner_ca()
    signed = tmp_path / "foreign.pdf"
    signed.write_bytes(partner_signed(document.read_bytes(), ca, embed_crl=True))
    assert only(validate_pdf(signed, trust, online(sqlite_deployment))) == (
        Indication.INDETERMINATE,
        "NO_CERTIFICATE_CHAIN_FOUND",
    )
    root_file = tmp_path / "foreign-root.pem"
    root_file.write_bytes(ca.root_pem)
    imported = trust_store(sqlite_deployment.authority, [root_file])
    report = validate_pdf(signed, imported, online(sqlite_deployment))
    assert only(report) == (Indication.TOTAL_PASSED, None), report
    assert report.signatures[0].trust_anchor and "Partner Test Root" in report.signatures[0].trust_anchor


def test_an_expired_certificate_passes_on_a_b_lta_signature_made_while_it_was_valid(
    services: StatusServices, sqlite_deployment: Deployment, document: Path, tmp_path: Path
) -> None:
    """The time-stamp proves the signature came before the expiry; the same certificate's B-B signature,
    with no such proof, is OUT_OF_BOUNDS_NO_POE.

    Three seconds ago on govsign's clock, a leaf that lives one second signs; the clock moves on past its
    expiry for the archive time-stamp, and pyHanko judges it all on the real clock, where it has expired."""
    with clock.frozen(_seconds_ago(sqlite_deployment, 3)) as earlier:
        ca = partner_ca(leaf_lifetime=dt.timedelta(seconds=1))  # its CRL travels in the documents
        stamper = InProcessTimeStamper(services)
        plain, archived = tmp_path / "b-b.pdf", tmp_path / "b-lta.pdf"
        plain.write_bytes(partner_signed(document.read_bytes(), ca, embed_crl=True))
        ours = trust_store(sqlite_deployment.authority)
        stamped = partner_signed(
            document.read_bytes(), ca, embed_crl=True, timestamper=stamper, timestamper_trust=ours
        )
        earlier.advance(dt.timedelta(seconds=1.5))
        with archived.open("wb") as output:
            signers.PdfTimeStamper(stamper).timestamp_pdf(
                IncrementalPdfFileWriter(io.BytesIO(stamped)),
                "sha256",
                validation_context=chain_validation_context(services, []),
                output=output,
            )
    root_file = tmp_path / "foreign-root.pem"
    root_file.write_bytes(ca.root_pem)
    trusted = trust_store(sqlite_deployment.authority, [root_file])
    offline = fetch_policy(sqlite_deployment.settings, offline=True)
    report = validate_pdf(archived, trusted, offline)
    assert only(report) == (Indication.TOTAL_PASSED, None), report
    assert only(report, "document-timestamp") == (Indication.TOTAL_PASSED, None), report
    assert report.signatures[0].level == "B-LTA"
    assert only(validate_pdf(plain, trusted, offline)) == (Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE")


def test_an_unknown_root_is_no_certificate_chain_found(
    services: StatusServices, sqlite_deployment: Deployment, document: Path, tmp_path: Path
) -> None:
    signed = tmp_path / "signed.pdf"
    sign_by_official(services, sqlite_deployment, document, signed, Level.B_LT)
    stranger = foreign_ca()
    _, _, der = pem.unarmor(stranger.root_pem)
    elsewhere = TrustStore(anchors=(TrustAnchor("someone else", asn1_x509.Certificate.load(der)),))
    report = validate_pdf(signed, elsewhere, fetch_policy(sqlite_deployment.settings, offline=True))
    assert only(report) == (Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND")


def test_sha1_is_a_crypto_constraints_failure(
    sqlite_deployment: Deployment, document: Path, tmp_path: Path
) -> None:
    ca = foreign_ca()
    signed = tmp_path / "sha1.pdf"
    meta = signers.PdfSignatureMetadata(field_name="Old", md_algorithm="sha1")
    signed.write_bytes(pyhanko_sign(document.read_bytes(), ca, meta))
    root_file = tmp_path / "root.pem"
    root_file.write_bytes(ca.root_pem)
    report = validate_pdf(
        signed, trust_store(sqlite_deployment.authority, [root_file]), online(sqlite_deployment)
    )
    assert only(report) == (Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE")
    assert "SHA-1" in report.signatures[0].summary_en


def test_a_leaf_only_signature_passes_when_its_aia_gives_the_issuer(
    services: StatusServices,
    sqlite_deployment: Deployment,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    """Real Vietnamese files often carry the signer's certificate alone: the issuing CA comes from the
    AIA caIssuers URL (our own public URL, which the fetch policy allows)."""
    key = as_holder(sqlite_deployment.authority, official_key(sqlite_deployment), document)
    signer = HsmSigner(key, signature_algorithm_for(key, pss=False))
    # test only: a CMS that carries the leaf alone. pyhanko-certvalidator leaves the constructor unannotated.
    signer._cert_registry = cast(Callable[[], SimpleCertificateStore], SimpleCertificateStore)()
    leaf_only = tmp_path / "leaf-only.pdf"
    with document.open("rb") as stream:
        writer = IncrementalPdfFileWriter(stream)
        meta = signers.PdfSignatureMetadata(field_name="LeafOnly", subfilter=fields.SigSeedSubFilter.PADES)
        leaf_only.write_bytes(signers.sign_pdf(writer, meta, signer).getvalue())
    root_only = TrustStore(anchors=trust_store(sqlite_deployment.authority).anchors)
    assert only(validate_pdf(leaf_only, root_only, online(sqlite_deployment))) == (
        Indication.TOTAL_PASSED,
        None,
    )
    offline = fetch_policy(sqlite_deployment.settings, offline=True)
    assert only(validate_pdf(leaf_only, root_only, offline))[0] is not Indication.TOTAL_PASSED
