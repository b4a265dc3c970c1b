"""The validation report's faces: the CLI's exit code and JSON, the public API and its schema, the verify
page in Vietnamese and English, and the downloadable PDF report (qpdf, pdffonts, pdftotext, pdfsig)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import jsonschema

from ca.status import StatusServices
from govsign.access.trust_store import trust_store
from signing.fetch_policy import FetchPolicy
from signing.pades import Level
from signing.validation import Indication, validate_pdf
from tests.conftest import Deployment
from tests.etsi_checks import assert_etsi_report_agrees, indications, parsed_etsi_report
from tests.validation_fixtures import only, pdfsig_integrity, sign_by_official, tamper


def test_cli_exit_code_and_the_public_api(
    services: StatusServices,
    sqlite_deployment: Deployment,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    signed = tmp_path / "signed.pdf"
    sign_by_official(services, sqlite_deployment, document, signed, Level.B_LT)
    passed = sqlite_deployment.cli("verify", str(signed), "--json", "--offline")
    assert json.loads(passed.stdout)["all_passed"] is True
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(tamper(signed.read_bytes()))
    failed = sqlite_deployment.cli("verify", str(tampered), check=False)
    assert failed.returncode == 1 and "TOTAL_FAILED/HASH_FAILURE" in failed.stdout
    with signed.open("rb") as stream:
        answer = httpx.post(f"{public_server}/api/v1/verify", files={"file": ("s.pdf", stream)}, timeout=60)
    assert answer.status_code == 200 and answer.json()["schema"] == "govsign-validation/1"
    assert answer.json()["signatures"][0]["signer"]["common_name"] == "Nguyễn Văn Ánh"
    schema = httpx.get(f"{public_server}/api/v1/verify/schema").json()
    jsonschema.validate(answer.json(), schema)
    failed_json = sqlite_deployment.cli("verify", str(tampered), "--json", check=False).stdout
    jsonschema.validate(json.loads(failed_json), schema)
    garbage = httpx.post(
        f"{public_server}/api/v1/verify", files={"file": ("x.pdf", b"not a pdf")}, timeout=60
    )
    assert garbage.status_code == 422 and "cannot be read" in garbage.json()["detail"]


def test_the_verify_page_shows_the_signer_with_diacritics_in_vietnamese_and_english(
    services: StatusServices,
    sqlite_deployment: Deployment,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    signed = tmp_path / "signed.pdf"
    sign_by_official(services, sqlite_deployment, document, signed, Level.B_LT)
    page = httpx.get(f"{public_server}/verify")
    assert page.status_code == 200 and 'type="file"' in page.text and "Kiểm tra chữ ký số" in page.text
    for lang, verdict in (
        ("vi", "Hợp lệ — tài liệu không bị thay đổi sau khi ký."),
        ("en", "Valid — the document"),
    ):
        with signed.open("rb") as stream:
            answer = httpx.post(
                f"{public_server}/verify?lang={lang}", files={"file": ("s.pdf", stream)}, timeout=60
            )
        assert answer.status_code == 200
        assert "Nguyễn Văn Ánh" in answer.text and verdict in answer.text and "TOTAL_PASSED" in answer.text
    vietnamese = httpx.post(
        f"{public_server}/verify", files={"file": ("s.pdf", signed.read_bytes())}, timeout=60
    )
    assert "toàn vẹn của phần được ký: đạt" in vietnamese.text
    assert "Dữ liệu kiểm tra chữ ký (DSS) được thêm sau khi ký: được phép" in vietnamese.text
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(tamper(signed.read_bytes()))
    with tampered.open("rb") as stream:
        answer = httpx.post(f"{public_server}/verify", files={"file": ("t.pdf", stream)}, timeout=60)
    assert (
        "Không hợp lệ — nội dung đã bị thay đổi sau khi ký." in answer.text and "TOTAL_FAILED" in answer.text
    )
    for lang, reason in (("vi", "Tệp không phải là tài liệu PDF đọc được."), ("en", "cannot be read")):
        refused = httpx.post(
            f"{public_server}/verify?lang={lang}", files={"file": ("x.pdf", b"GIF89a")}, timeout=60
        )
        assert refused.status_code == 422 and reason in refused.text, refused.text


def test_the_pdf_report_carries_the_verdicts_in_the_chosen_language(
    services: StatusServices,
    sqlite_deployment: Deployment,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    """The downloadable report: a well-formed PDF (qpdf), its font embedded (pdffonts), its text the
    page's (pdftotext), in Vietnamese or English, sealed by the service (our validator and pdfsig)."""
    signed = tmp_path / "signed.pdf"
    sign_by_official(services, sqlite_deployment, document, signed, Level.B_LTA)
    for lang, sentence, check in (
        ("vi", "Hợp lệ — tài liệu không bị thay đổi sau khi ký.", "toàn vẹn của phần được ký: đạt"),
        ("en", "Valid — the document has not been changed since it", "integrity of the signed bytes: passed"),
    ):
        answer = httpx.post(
            f"{public_server}/verify/report.pdf?lang={lang}",
            files={"file": ("s.pdf", signed.read_bytes())},
            timeout=60,
        )
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
        assert "attachment" in answer.headers["content-disposition"]
        report = tmp_path / f"report-{lang}.pdf"
        report.write_bytes(answer.content)
        subprocess.run(["qpdf", "--check", str(report)], check=True, capture_output=True)
        fonts = subprocess.run(["pdffonts", str(report)], check=True, capture_output=True, text=True).stdout
        assert "LiberationSerif" in fonts and " yes yes yes " in fonts
        text = " ".join(
            subprocess.run(
                ["pdftotext", str(report), "-"], check=True, capture_output=True, text=True
            ).stdout.split()
        )
        for expected in (sentence, check, "Nguyễn Văn Ánh", "TOTAL_PASSED", "PAdES B-LTA", "govsign root CA"):
            assert expected in text, (expected, text)
        sealed = validate_pdf(report, trust_store(sqlite_deployment.authority), FetchPolicy(enabled=False))
        assert only(sealed) == (Indication.TOTAL_PASSED, None), sealed  # the report is itself signed
        seal = sealed.signatures[0].signer
        assert seal is not None and seal.common_name == "Ban Cơ yếu Chính phủ - govsign"
        assert pdfsig_integrity(report) == [True]
    refused = httpx.post(
        f"{public_server}/verify/report.pdf?lang=en", files={"file": ("x.pdf", b"GIF89a")}, timeout=60
    )
    assert refused.status_code == 422 and "cannot be read" in refused.text


def test_the_etsi_report_from_the_cli_and_the_api_parses_back_and_agrees_with_the_json(
    services: StatusServices,
    sqlite_deployment: Deployment,
    document: Path,
    public_server: str,
    tmp_path: Path,
) -> None:
    """TS 119 102-2 from both faces, for a B-LTA document (a signature and a document time-stamp) and a
    tampered one; the signature element names the signer's certificate and its chain."""
    signed = tmp_path / "signed.pdf"
    sign_by_official(services, sqlite_deployment, document, signed, Level.B_LTA)
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(tamper(signed.read_bytes()))
    for pdf in (signed, tampered):
        as_json = json.loads(
            sqlite_deployment.cli("verify", str(pdf), "--format", "json", check=False).stdout
        )
        xml = sqlite_deployment.cli("verify", str(pdf), "--format", "etsi-xml", check=False).stdout
        assert_etsi_report_agrees(xml.encode(), indications(as_json))
        with pdf.open("rb") as stream:
            answer = httpx.post(
                f"{public_server}/api/v1/verify",
                files={"file": ("s.pdf", stream)},
                headers={"Accept": "application/xml"},
                timeout=60,
            )
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
        assert_etsi_report_agrees(answer.content, indications(as_json))
    parsed = parsed_etsi_report(answer.content)
    first = parsed.signature_validation_report[0]
    assert first.signer_information is not None and "Nguyễn Văn Ánh" in (
        first.signer_information.signer or ""
    )
    attributes = first.signature_attributes
    assert attributes is not None and attributes.doc_time_stamp and attributes.dss
    (stamp,) = attributes.signature_time_stamp
    assert stamp.attribute_object and stamp.attribute_object[0].voreference[0].startswith("vo-timestamp-")
    assert indications(as_json)[0] == ("TOTAL_FAILED", "HASH_FAILURE")  # the tampered copy, last
    status = first.signature_validation_status
    assert status is not None and status.associated_validation_report_data
    chain = status.associated_validation_report_data[0].certificate_chain
    assert chain is not None and chain.intermediate_certificate and chain.trust_anchor is not None
