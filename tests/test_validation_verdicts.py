"""Verdicts that are true (issue 13): forgeries named as what they are (a shadow attack is "content of page 1
replaced"), no report that contradicts itself, levels judged per signature, EN 319 102-1's sub-indications
for unreachable revocation data and self-signed signers, legacy signatures reported instead of skipped,
encrypted files opened, no traceback for a person. Signed bytes checked with poppler's pdfsig."""

from __future__ import annotations

import io
import json
import socket
import subprocess
from pathlib import Path

import httpx
import pikepdf
import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import add_validation_info

from ca.status import StatusServices
from govsign.api.verify import report_schema
from signing.errors import InvalidDocument
from signing.fetch_policy import FetchPolicy
from signing.pades import Level, SigningOptions
from signing.trust_services import InProcessTimeStamper, chain_validation_context
from signing.validation import ChangeKind, Indication, SubIndication, TrustStore, validate_pdf
from tests.conftest import Deployment, sign_as_holder
from tests.etsi_checks import assert_etsi_report_of
from tests.fetch_origins import partner_ca, partner_signed
from tests.field_forms import _test_certifier
from tests.validation_fixtures import (
    official_key,
    online,
    only,
    only_verdict,
    pdfsig_integrity,
    sign_by_official,
    signed_and_changed,
    tamper,
)
from tests.validation_forgeries import (
    annotation_added,
    legacy_rsa_sha1_signed,
    shadow_attack_original,
    shadow_attacked,
)


def _offline() -> FetchPolicy:
    return FetchPolicy(enabled=False)


def test_a_shadow_attack_is_named_content_of_page_1_replaced(
    services: StatusServices, sqlite_deployment: Deployment, trust: TrustStore, tmp_path: Path
) -> None:
    """The amount's XObject swapped after signing (10,000,000 -> 990,000,000 VND): the signed bytes are
    intact (pdfsig agrees), the signature does not pass, and the report says which page's content changed."""
    original = shadow_attack_original(tmp_path / "quyet-dinh.pdf")
    signed, attacked = signed_and_changed(
        services, sqlite_deployment, original, tmp_path, Level.B_LT, shadow_attacked
    )
    untouched = only_verdict(validate_pdf(signed, trust, _offline()))
    assert [c.kind for c in untouched.changes] == [ChangeKind.DSS_ADDED] and untouched.changes[0].allowed
    verdict = only_verdict(validate_pdf(attacked, trust, _offline()))
    assert verdict.indication is not Indication.TOTAL_PASSED
    replaced = [c for c in verdict.changes if c.kind is ChangeKind.PAGE_CONTENT_REPLACED]
    assert len(replaced) == 1 and replaced[0].page == 1 and not replaced[0].allowed, verdict.changes
    assert replaced[0].sentence_en == "Content of page 1 replaced after signing"
    assert replaced[0].sentence_vi == "Nội dung trang 1 bị thay thế sau khi ký"
    assert any("/XObject /Amount" in detail for detail in replaced[0].objects), replaced[0].objects
    assert "Nội dung trang 1 bị thay thế sau khi ký: không được phép" in verdict.modifications_vi
    assert pdfsig_integrity(attacked) == [True]


def test_an_annotation_added_after_signing_is_named_with_its_page_and_judged_as_docmdp_allows(
    services: StatusServices, sqlite_deployment: Deployment, trust: TrustStore, document: Path, tmp_path: Path
) -> None:
    _, annotated = signed_and_changed(
        services, sqlite_deployment, document, tmp_path, Level.B_LT, annotation_added
    )
    verdict = only_verdict(validate_pdf(annotated, trust, _offline()))
    added = [c for c in verdict.changes if c.kind is ChangeKind.ANNOTATION_ADDED]
    assert [(c.page, c.sentence_en) for c in added] == [(1, "Annotation added on page 1 after signing")]
    assert "/FreeText" in added[0].objects[0]
    assert added[0].allowed is (verdict.indication is Indication.TOTAL_PASSED)
    assert pdfsig_integrity(annotated) == [True]


def test_a_tampered_signature_never_says_no_changes_nor_fails_a_check_it_did_not_run(
    services: StatusServices, sqlite_deployment: Deployment, trust: TrustStore, document: Path, tmp_path: Path
) -> None:
    _, tampered = signed_and_changed(
        services, sqlite_deployment, document, tmp_path, Level.B_B, lambda signed: tamper(signed.read_bytes())
    )
    verdict = only_verdict(validate_pdf(tampered, trust, online(sqlite_deployment)))
    assert (verdict.indication, verdict.sub_indication) == (Indication.TOTAL_FAILED, "HASH_FAILURE")
    assert verdict.changes and "không có" not in verdict.modifications_vi
    assert verdict.modifications_vi.startswith("Chính phần nội dung đã được ký bị sửa đổi")
    assert verdict.level is None  # a broken signature reaches no PAdES level
    for check in verdict.checks:
        assert check.passed is not False or check.detail, check  # a failure always says why
    assert pdfsig_integrity(tampered) == [False]


def test_levels_are_judged_per_signature_and_a_b_b_time_is_only_claimed(
    services: StatusServices,
    sqlite_deployment: Deployment,
    trust: TrustStore,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    """A document time-stamp over a B-T signature without its validation data does not make it B-LTA (nor
    B-LT), nor does its data added after the time-stamp (B-LT then); a B-B signing time is the signer's
    claim, a B-T one is proven."""
    plain, stamped = tmp_path / "b-b.pdf", tmp_path / "b-t.pdf"
    key = official_key(sqlite_deployment)
    sign_as_holder(services, key, document, plain, SigningOptions(level=Level.B_B), actor="t")
    sign_as_holder(services, key, document, stamped, SigningOptions(level=Level.B_T), actor="t")
    claimed = only_verdict(validate_pdf(plain, trust, online(sqlite_deployment)))
    assert claimed.level == Level.B_B and claimed.signing_time_proven is False
    assert claimed.signing_time_note_en == "The signing time is claimed by the signer, not proven."
    archived = tmp_path / "b-t-then-archive.pdf"
    with archived.open("wb") as output:
        signers.PdfTimeStamper(InProcessTimeStamper(services)).timestamp_pdf(
            IncrementalPdfFileWriter(io.BytesIO(stamped.read_bytes())), "sha256", output=output
        )
    report = validate_pdf(archived, trust, online(sqlite_deployment))
    verdict = only_verdict(report)
    assert verdict.indication is Indication.TOTAL_PASSED and verdict.level == Level.B_T, verdict
    assert verdict.signing_time_proven is True
    kinds = [c.kind for c in verdict.changes]
    assert kinds == [ChangeKind.DOCUMENT_TIMESTAMP_ADDED], verdict.changes
    assert only(report, "document-timestamp") == (Indication.TOTAL_PASSED, None)
    dss_after = tmp_path / "archive-then-dss.pdf"
    with archived.open("rb") as stream, dss_after.open("wb") as output:
        signature = PdfFileReader(stream).embedded_regular_signatures[0]
        add_validation_info(signature, chain_validation_context(services, [key.serial]), output=output)
    later = only_verdict(validate_pdf(dss_after, trust, _offline()))
    assert later.level == Level.B_LT, later  # its data now, but no time-stamp over it


def test_a_dss_that_serves_another_signature_does_not_make_this_one_b_lt(
    services: StatusServices,
    sqlite_deployment: Deployment,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    """A B-T signature, then a partner's signature whose CRL goes into the DSS: the first stays B-T, and
    the report names the second signature and the DSS as changes after it."""
    stamped = tmp_path / "b-t.pdf"
    sign_by_official(services, sqlite_deployment, document, stamped, Level.B_T)
    ca = partner_ca()
    both = tmp_path / "both.pdf"
    both.write_bytes(partner_signed(stamped.read_bytes(), ca, embed_crl=True))
    report = validate_pdf(both, ca.trust(sqlite_deployment), online(sqlite_deployment))
    first, second = report.signatures
    assert first.indication is Indication.TOTAL_PASSED and first.level == Level.B_T, first
    assert [(c.kind, c.field_name) for c in first.changes] == [
        (ChangeKind.SIGNATURE_ADDED, "Partner"),
        (ChangeKind.DSS_ADDED, None),
    ]
    assert all(c.allowed for c in first.changes)
    assert second.field_name == "Partner" and second.level == Level.B_B
    assert pdfsig_integrity(both) == [True, True]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("service", ["crl", "ocsp"])
def test_unreachable_revocation_data_is_try_later(
    service: str, sqlite_deployment: Deployment, document: Path, tmp_path: Path
) -> None:
    """The partner's CRL or OCSP responder lives on a server that does not answer: INDETERMINATE / TRY_LATER
    (EN 319 102-1, 5.2.5), not a broken chain."""
    port = _closed_port()
    url = f"http://ca.govsign.vn:{port}/partner-{service}"
    ca = partner_ca(crl_url=url if service == "crl" else None, ocsp_url=url if service == "ocsp" else None)
    signed = tmp_path / "partner.pdf"
    signed.write_bytes(partner_signed(document.read_bytes(), ca))
    fetching = FetchPolicy(allowed_origins=frozenset({f"ca.govsign.vn:{port}"}))
    report = validate_pdf(signed, ca.trust(sqlite_deployment), fetching)
    assert only(report) == (Indication.INDETERMINATE, SubIndication.TRY_LATER), report
    trust_check = next(c for c in report.signatures[0].checks if c.code == "trust")
    assert trust_check.passed is False and trust_check.detail


def test_an_untrusted_self_signed_signer_is_no_certificate_chain_found(
    sqlite_deployment: Deployment, trust: TrustStore, document: Path, tmp_path: Path
) -> None:
    signer, _ = _test_certifier(tmp_path)  # a software key whose certificate is its own issuer
    signed = tmp_path / "self-signed.pdf"
    with document.open("rb") as stream:
        meta = signers.PdfSignatureMetadata(field_name="SelfSigned")
        signed.write_bytes(signers.sign_pdf(IncrementalPdfFileWriter(stream), meta, signer).getvalue())
    report = validate_pdf(signed, trust, _offline())
    assert only(report) == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND), report
    assert pdfsig_integrity(signed) == [True]


def test_a_legacy_rsa_sha1_signature_is_reported_as_format_failure_not_as_no_signature(
    sqlite_deployment: Deployment, trust: TrustStore, document: Path, public_server: str, tmp_path: Path
) -> None:
    """poppler lists the signature of 2000; so does the report, as INDETERMINATE / FORMAT_FAILURE with a
    sentence and, for experts, whether its RSA value still matches the signed bytes; the CLI prints no
    traceback, the API answers 200."""
    legacy = legacy_rsa_sha1_signed(document, tmp_path / "2000.pdf")
    listed = subprocess.run(["pdfsig", str(legacy)], capture_output=True, text=True, check=False).stdout
    assert "Signature #1" in listed and "Signature1" in listed
    report = validate_pdf(legacy, trust, _offline())
    verdict = only_verdict(report)
    assert (verdict.indication, verdict.sub_indication) == (Indication.INDETERMINATE, "FORMAT_FAILURE")
    assert "adbe.x509.rsa_sha1" in verdict.summary_en and "adbe.x509.rsa_sha1" in verdict.summary_vi
    assert verdict.signer is not None and verdict.signer.common_name == "Nguyen Van Cu (2000)"
    assert [(c.code, c.passed) for c in verdict.checks] == [("structure", False), ("signature", True)]
    altered = tmp_path / "2000-altered.pdf"
    altered.write_bytes(tamper(legacy.read_bytes()))
    value = next(
        c for c in only_verdict(validate_pdf(altered, trust, _offline())).checks if c.code == "signature"
    )
    assert value.passed is False and "does not match the signed bytes" in value.detail
    cli = sqlite_deployment.cli("verify", str(legacy), "--offline", check=False)
    assert cli.returncode == 1 and "Signature1: INDETERMINATE/FORMAT_FAILURE" in cli.stdout
    assert "no signature" not in cli.stdout and "Traceback" not in cli.stderr, cli.stderr
    answer = httpx.post(
        f"{public_server}/api/v1/verify", files={"file": ("2000.pdf", legacy.read_bytes())}, timeout=60
    )
    assert answer.status_code == 200 and answer.json()["signatures"][0]["sub_indication"] == "FORMAT_FAILURE"


def test_pyhankos_logged_tracebacks_reach_stderr_only_with_debug(
    services: StatusServices, sqlite_deployment: Deployment, document: Path, tmp_path: Path
) -> None:
    """pyHanko logs its difference analysis's refusal of a shadow attack with a traceback."""
    original = shadow_attack_original(tmp_path / "quyet-dinh.pdf")
    _, attacked = signed_and_changed(
        services, sqlite_deployment, original, tmp_path, Level.B_LT, shadow_attacked
    )
    quiet = sqlite_deployment.cli("verify", str(attacked), "--offline", check=False)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr, quiet.stderr
    assert "Content of page 1 replaced after signing" in quiet.stdout
    loud = sqlite_deployment.cli("verify", str(attacked), "--offline", "--debug", check=False)
    assert loud.returncode == 1 and "SuspiciousModification" in loud.stderr, loud.stderr


def _encrypted(source: Path, target: Path, user: str) -> Path:
    with pikepdf.open(source) as pdf:
        pdf.save(target, encryption=pikepdf.Encryption(owner="chu-so-huu", user=user, R=6))
    return target


@pytest.mark.parametrize("user_password", ["", "mat-khau-nguoi-doc"])
def test_encrypted_files_open_with_an_empty_user_password_or_the_one_given(
    user_password: str,
    services: StatusServices,
    sqlite_deployment: Deployment,
    trust: TrustStore,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    """Through the library, the CLI (--password) and the API (a ``password`` form field)."""
    locked = _encrypted(document, tmp_path / "locked.pdf", user_password)
    signed = tmp_path / "signed.pdf"
    options = SigningOptions(level=Level.B_LT, password=user_password or None)
    sign_as_holder(services, official_key(sqlite_deployment), locked, signed, options, actor="t")
    given = user_password or None
    assert only(validate_pdf(signed, trust, _offline(), password=given)) == (Indication.TOTAL_PASSED, None)
    cli_password = ["--password", user_password] if user_password else []
    cli = sqlite_deployment.cli("verify", str(signed), "--offline", "--json", *cli_password, check=False)
    assert cli.returncode == 0 and json.loads(cli.stdout)["all_passed"] is True, cli.stderr
    form = {"password": user_password} if user_password else {}
    answer = httpx.post(
        f"{public_server}/api/v1/verify",
        files={"file": ("s.pdf", signed.read_bytes())},
        data=form,
        timeout=60,
    )
    assert answer.status_code == 200 and answer.json()["all_passed"] is True, answer.text
    if user_password:
        with pytest.raises(InvalidDocument, match="encrypted; give its password"):
            validate_pdf(signed, trust, _offline())
        with pytest.raises(InvalidDocument, match="password does not open"):
            validate_pdf(signed, trust, _offline(), password="sai")
        refused = httpx.post(
            f"{public_server}/api/v1/verify", files={"file": ("s.pdf", signed.read_bytes())}, timeout=60
        )
        assert refused.status_code == 422 and "password" in refused.json()["detail"]


def test_the_schema_makes_sub_indications_levels_and_change_kinds_enums() -> None:
    schema = report_schema()
    definitions = schema["$defs"]
    assert set(definitions["SubIndication"]["enum"]) == {sub.value for sub in SubIndication}
    assert definitions["Level"]["enum"] == [level.value for level in Level]
    assert set(definitions["ChangeKind"]["enum"]) == {kind.value for kind in ChangeKind}
    verdict = definitions["SignatureVerdict"]["properties"]
    assert {"$ref": "#/$defs/SubIndication"} in verdict["sub_indication"]["anyOf"]
    assert {"$ref": "#/$defs/Level"} in verdict["level"]["anyOf"]
    assert verdict["signing_time_proven"]["type"] == "boolean"


def test_control_characters_in_the_signers_words_still_give_an_etsi_report(
    trust: TrustStore, document: Path, tmp_path: Path
) -> None:
    """The signer writes /Reason, /Location and /ContactInfo: a control character there (which XML 1.0
    cannot carry) made the ETSI report raise instead of being written (a 500 for `Accept: application/xml`)."""
    signer, _ = _test_certifier(tmp_path)
    signed = tmp_path / "control-characters.pdf"
    with document.open("rb") as stream:
        meta = signers.PdfSignatureMetadata(
            field_name="Hostile", reason="Đồng ý\x01\x1b[31m", location="Hà Nội\x00", contact_info="\x7f\x08"
        )
        signed.write_bytes(signers.sign_pdf(IncrementalPdfFileWriter(stream), meta, signer).getvalue())
    report = validate_pdf(signed, trust, _offline())
    assert_etsi_report_of(signed, report, trust)
