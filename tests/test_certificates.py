"""Every certificate kind is right by independent judges: pkilint's CLI, `openssl verify`, certvalidator."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import cast

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.path import ValidationPath

from ca.hsm import KeyAlgorithm
from ca.issuance import GenerateInHsm, issue_certificate
from ca.profiles import CertificateKind, parse_request
from ca.store import CertificateRecord
from tests.conftest import DEMO, Deployment

BIN = Path(sys.executable).parent
ETSI_TYPES = {
    "individual": "NCP-NATURAL-PERSON-CERTIFICATE",
    "organisation": "NCP-LEGAL-PERSON-CERTIFICATE",
}
CASES = [
    ("individual", "official-nguyen-van-anh.json", KeyAlgorithm.RSA2048),
    ("individual", "official-nguyen-van-anh.json", KeyAlgorithm.RSA3072),
    ("individual", "official-nguyen-van-anh.json", KeyAlgorithm.EC_P256),
    ("organisation", "seal-so-tu-phap-ha-noi.json", KeyAlgorithm.RSA2048),
    ("device", "device-case-system.json", KeyAlgorithm.EC_P256),
]


def _pkilint(certificate: x509.Certificate, profile: str, folder: Path) -> str:
    """Run pkilint's own command line (ETSI linter or lint_pkix_cert); fail on any ERROR or FATAL."""
    path = folder / "certificate.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    if profile in ETSI_TYPES:
        command = [str(BIN / "lint_etsi_cert"), "lint", "-s", "ERROR", "-t", ETSI_TYPES[profile], str(path)]
    else:
        command = [str(BIN / "lint_pkix_cert"), "lint", "-s", "ERROR", str(path)]
    # With "-s ERROR" the exit code counts only ERROR and FATAL findings.
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _openssl_verify(deployment: Deployment, certificate: x509.Certificate, folder: Path) -> None:
    path = folder / "leaf.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", str(deployment.chain_pem), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stdout + result.stderr


def _certvalidator_path(deployment: Deployment, certificate: x509.Certificate) -> int:
    def load(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    context = ValidationContext(
        trust_roots=[load(deployment.root)],
        other_certs=[load(deployment.issuing)],
        allow_fetching=False,
        revocation_mode="soft-fail",  # weak algorithms refused: certvalidator's default policy
    )
    validator = CertificateValidator(load(certificate), validation_context=context)
    # pyhanko-certvalidator leaves async_validate_usage unannotated; it returns the validated path.
    validate_usage = cast(
        Callable[[set[str]], Coroutine[None, None, ValidationPath]], validator.async_validate_usage
    )
    return len(asyncio.run(validate_usage({"digital_signature"})))


@pytest.mark.parametrize(("profile", "request_file", "key_type"), CASES, ids=lambda v: str(v))
def test_subscriber_certificate_passes_pkilint_openssl_and_certvalidator(
    deployment: Deployment, tmp_path: Path, profile: str, request_file: str, key_type: KeyAlgorithm
) -> None:
    request = parse_request(profile, json.loads((DEMO / request_file).read_text(encoding="utf-8")))
    issued = issue_certificate(
        deployment.authority, CertificateKind(profile), request, GenerateInHsm(key_type), actor="test"
    )
    _pkilint(issued.certificate, profile, tmp_path)
    _openssl_verify(deployment, issued.certificate, tmp_path)
    assert _certvalidator_path(deployment, issued.certificate) == 3
    public_key = issued.certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    assert public_key.key_size == {"rsa2048": 2048, "rsa3072": 3072, "ec-p256": 256}[key_type.value]


@pytest.mark.parametrize("kind", ["ocsp-signer", "tsa", "organisation"])
def test_service_certificates_pass_pkilint_and_openssl(
    deployment: Deployment, tmp_path: Path, kind: str
) -> None:
    with deployment.authority.database.transaction() as session:
        record = (
            session.query(CertificateRecord)
            .filter_by(
                profile=kind, request_ref="CEREMONY" if kind != "organisation" else "CEREMONY-SERVICE-SEAL"
            )
            .one()
        )
    certificate = x509.load_der_x509_certificate(record.der)
    _pkilint(certificate, kind, tmp_path)
    _openssl_verify(deployment, certificate, tmp_path)


def test_ca_certificates_pass_lint_pkix_cert(deployment: Deployment, tmp_path: Path) -> None:
    for certificate in (deployment.root, deployment.issuing):
        _pkilint(certificate, "ca", tmp_path)
    root_check = subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-CAfile",
            str(deployment.chain_pem),
            str(deployment.chain_pem),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert root_check.returncode == 0, root_check.stderr


def test_ca_hierarchy_matches_standards(deployment: Deployment) -> None:
    root, issuing = deployment.root, deployment.issuing
    assert root.subject == root.issuer
    assert root.not_valid_after_utc.year - root.not_valid_before_utc.year == 20
    assert issuing.not_valid_after_utc <= root.not_valid_after_utc
    constraints = issuing.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    key_usage = issuing.extensions.get_extension_for_class(x509.KeyUsage).value
    assert key_usage.key_cert_sign and key_usage.crl_sign and not key_usage.digital_signature
    with pytest.raises(x509.ExtensionNotFound):
        root.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    aia = issuing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_method._name for d in aia] == ["caIssuers"]


def test_individual_subject_uses_the_string_types_etsi_requires(deployment: Deployment) -> None:
    request = parse_request(
        "individual", json.loads((DEMO / "official-nguyen-van-anh.json").read_text("utf-8"))
    )
    issued = issue_certificate(
        deployment.authority,
        CertificateKind.INDIVIDUAL,
        request,
        GenerateInHsm(KeyAlgorithm.EC_P256),
        actor="t",
    )
    subject = asn1_x509.Certificate.load(issued.certificate.public_bytes(serialization.Encoding.DER)).subject
    types = {}
    for rdn in subject.chosen:
        for attribute in rdn:
            value = attribute["value"]
            chosen = value.chosen if hasattr(value, "chosen") else value
            types[attribute["type"].dotted] = (type(chosen).__name__, chosen.native)
    assert types["2.5.4.6"] == ("PrintableString", "VN")
    assert types["2.5.4.5"] == ("PrintableString", "IDCVN-001085012345")
    assert types["2.5.4.3"] == ("UTF8String", "Nguyễn Văn Ánh")
    assert types["2.5.4.4"] == ("UTF8String", "Nguyễn")
    assert types["2.5.4.42"] == ("UTF8String", "Văn Ánh")
    assert types["0.9.2342.19200300.100.1.1"][1] == "CCCD:001085012345"
    certificate = issued.certificate
    policies = [
        p.policy_identifier.dotted_string
        for p in certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    ]
    assert "0.4.0.2042.1.2" in policies  # NCP+: the key was generated in our HSM
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["nvanh@sotuphap.hanoi.gov.vn"]
    key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical and key_usage.value.digital_signature and key_usage.value.content_commitment
    assert 1 << 64 <= certificate.serial_number < 1 << 159


def test_organisation_subject_carries_tax_and_budget_codes(deployment: Deployment) -> None:
    request = parse_request(
        "organisation", json.loads((DEMO / "seal-so-tu-phap-ha-noi.json").read_text("utf-8"))
    )
    issued = issue_certificate(
        deployment.authority,
        CertificateKind.ORGANISATION,
        request,
        GenerateInHsm(KeyAlgorithm.EC_P256),
        actor="t",
    )
    subject = issued.certificate.subject
    uids = [a.value for a in subject.get_attributes_for_oid(x509.NameOID.USER_ID)]
    assert sorted(uids) == ["MNS:1234567", "MST:0101234565"]
    assert subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_IDENTIFIER)[0].value == "NTRVN-0101234565"
    names = {a.value for a in subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)}
    assert names == {"Sở Tư pháp thành phố Hà Nội"}  # the parent body stays in the database only
    with deployment.authority.database.transaction() as session:
        record = session.query(CertificateRecord).filter_by(serial=issued.serial_hex).one()
        assert "Ủy ban nhân dân thành phố Hà Nội" in record.request_json
        assert (
            record.requesting_agency == "Sở Tư pháp thành phố Hà Nội" and record.request_ref == "123/STP-VP"
        )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is installed by scripts/setup.sh")
def test_csr_key_gets_ncp_policy_and_keeps_its_key(deployment: Deployment, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    csr = tmp_path / "request.csr"
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True
    )
    subprocess.run(
        ["openssl", "req", "-new", "-key", str(key), "-subj", "/CN=ignored", "-sha256", "-out", str(csr)],
        check=True,
    )
    out = tmp_path / "cert.pem"
    result = deployment.cli(
        "ca",
        "issue",
        "--profile",
        "individual",
        "--subject",
        str(DEMO / "official-nguyen-van-anh.json"),
        "--csr",
        str(csr),
        "--out",
        str(out),
    )
    certificate = x509.load_pem_x509_certificate(out.read_bytes())
    assert result.stdout.strip().splitlines()[-1] == format(certificate.serial_number, "x")
    policies = [
        p.policy_identifier.dotted_string
        for p in certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    ]
    assert "0.4.0.2042.1.1" in policies and "0.4.0.2042.1.2" not in policies
    expected = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"], capture_output=True, check=True
    ).stdout
    assert (
        certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == expected
    )
    _openssl_verify(deployment, certificate, tmp_path)
