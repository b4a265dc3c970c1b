"""Corpus files already signed or certified (DocMDP P=1 and P=2) by a foreign CA, made with pyHanko."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tests.pdf_corpus.content import _form_doc
from tests.pdf_corpus.documents import CorpusPdf, _basic, _bytes_entry, _to_bytes


@dataclass(frozen=True)
class _ForeignCa:
    """A self-signed root and a leaf signing certificate that the service does not know."""

    root_pem: bytes
    signer: signers.SimpleSigner


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


def foreign_ca(
    ocsp_url: str | None = None, crl_url: str | None = None, leaf_lifetime: timedelta = timedelta(days=730)
) -> _ForeignCa:
    """A fresh foreign CA; its leaf names ``ocsp_url`` and ``crl_url`` for revocation when given, and
    expires ``leaf_lifetime`` from now."""
    now = datetime.now(UTC)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Foreign Test Trust Services"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Foreign Test Root CA"),
        ]
    )
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(root_ski, critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf_builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Foreign Test Signer")]))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + leaf_lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
    )
    if ocsp_url:
        access = [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
            )
        ]
        leaf_builder = leaf_builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        leaf_builder = leaf_builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    leaf = leaf_builder.sign(root_key, hashes.SHA256())
    certificates = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in (root, leaf)
    ]
    key_der = leaf_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = signers.SimpleSigner(
        signing_cert=certificates[1],
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(certificates),  # type: ignore[no-untyped-call]
    )
    return _ForeignCa(root.public_bytes(serialization.Encoding.PEM), signer)


def pyhanko_sign(
    data: bytes,
    ca: _ForeignCa,
    meta: signers.PdfSignatureMetadata,
    field: fields.SigFieldSpec | None = None,
    timestamper: TimeStamper | None = None,
) -> bytes:
    output = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(data)),
        meta,
        ca.signer,
        timestamper=timestamper,
        new_field_spec=field,
    )
    return bytes(output.getbuffer())


def _signed_foreign(folder: Path, ca: _ForeignCa) -> CorpusPdf:
    name = "signed-foreign-approval"
    note = "visible approval signature by a foreign CA (pyHanko); it must stay valid after the new signature"
    meta = signers.PdfSignatureMetadata(field_name="ForeignApproval", reason="Approved", location="Berlin")
    field = fields.SigFieldSpec("ForeignApproval", on_page=0, box=(330, 60, 545, 120))
    data = pyhanko_sign(_to_bytes(_basic(name, note)), ca, meta, field)
    return _bytes_entry(folder, name, data, "sign", "", note)


def _certified_no_changes(folder: Path, ca: _ForeignCa) -> CorpusPdf:
    name = "certified-docmdp-p1"
    note = "certified by a foreign CA with DocMDP P=1: no change at all is allowed"
    meta = signers.PdfSignatureMetadata(
        field_name="Certification",
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    data = pyhanko_sign(_to_bytes(_basic(name, note)), ca, meta)
    return _bytes_entry(folder, name, data, "refuse", "docmdp-forbids", note)


def _certified_fill_forms(folder: Path, ca: _ForeignCa) -> CorpusPdf:
    name = "certified-docmdp-p2"
    note = (
        "certified by a foreign CA with DocMDP P=2 (form filling and signing allowed); empty field 'Approval'"
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Certification",
        certify=True,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    data = pyhanko_sign(_to_bytes(_form_doc(name, note)), ca, meta)
    # a new visible field would break the certification: the signature goes in the prepared one
    return replace(_bytes_entry(folder, name, data, "sign", "", note), field="Approval")
