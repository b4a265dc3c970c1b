"""The revocation data a B-LT signature embeds (issue 14): the CRL its signer's certificate names in its
CDP, the shard's, so that a document stays small when the issuing CA's full CRL lists a million entries."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore

from ca.signing_keys import subscriber_key
from ca.status import StatusServices
from signing.pades import Level, SigningOptions
from tests.conftest import Deployment, issue_in_hsm, sign_as_holder
from tests.pdf_samples import one_page_pdf
from tests.test_pades import assert_pyhanko_valid


def _distribution_point(certificate: x509.Certificate) -> str:
    (point,) = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert point.full_name is not None
    (name,) = point.full_name
    return str(name.value)


def _scope(crl: x509.CertificateRevocationList) -> str | None:
    """The URL a shard CRL's issuingDistributionPoint names; None for a full CRL."""
    try:
        point = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return None
    assert point.full_name is not None
    (name,) = point.full_name
    return str(name.value)


def test_b_lt_embeds_the_shard_crl_its_signer_names_not_the_full_crl_and_validates(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    services = StatusServices(sqlite_deployment.authority)
    key = subscriber_key(sqlite_deployment.authority, issue_in_hsm(sqlite_deployment))
    target = tmp_path / "b-lt.pdf"
    sign_as_holder(
        services, key, one_page_pdf(tmp_path / "in.pdf"), target, SigningOptions(level=Level.B_LT), actor="t"
    )
    with target.open("rb") as stream:
        dss = DocumentSecurityStore.read_dss(PdfFileReader(stream))
        embedded = [x509.load_der_x509_crl(reference.get_object().data) for reference in dss.crls]
    issuing = sqlite_deployment.issuing.subject
    by_issuing_ca = [crl for crl in embedded if crl.issuer == issuing]
    assert by_issuing_ca, "no CRL of the issuing CA was embedded"
    assert None not in {_scope(crl) for crl in by_issuing_ca}, "the issuing CA's full CRL was embedded"
    assert _distribution_point(key.certificate) in {_scope(crl) for crl in by_issuing_ca}
    assert any(crl.issuer == sqlite_deployment.root.subject for crl in embedded), (
        "the root's CRL, which covers the issuing CA, was not embedded"
    )
    assert_pyhanko_valid(target, sqlite_deployment, Level.B_LT)
