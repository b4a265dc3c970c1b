"""Certificate authorities that govsign does not run, made in memory with ``cryptography`` for tests.

Each is a self-signed root and one leaf signer (pyHanko's ``SimpleSigner``) in the RFC 5280 profile: the
root a CA for one level below it, the leaf for digital signatures and non-repudiation. The leaf names an
OCSP responder (authority information access, 4.2.2.1) and a CRL distribution point (4.2.1.13) only when a
test wants its revocation checked there. The corpus's foreign CA (:mod:`tests.pdf_corpus`) and the
validator's partner CA (:mod:`tests.fetch_origins`) are both made by :func:`make_foreign_ca`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ca import clock

__all__ = ["ForeignCa", "IssuerKey", "key_usage", "make_foreign_ca"]

IssuerKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ForeignCa:
    """A root and one leaf signer that govsign does not know until a test makes it an anchor."""

    root: x509.Certificate
    root_key: IssuerKey
    signer: signers.SimpleSigner

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    @property
    def anchor(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.root.public_bytes(serialization.Encoding.DER))

    def crl(self) -> bytes:
        """The root's current CRL (nothing revoked), DER, issued at govsign's clock's time."""
        now = clock.now()
        return (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.root.subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + timedelta(days=7))
            .add_extension(x509.CRLNumber(1), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()), critical=False
            )
            .sign(self.root_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )


def key_usage(**flags: bool) -> x509.KeyUsage:
    """The key usage extension with the named bits set (e.g. ``key_cert_sign=True``) and every other clear."""
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


def make_foreign_ca(
    *,
    country: str,
    organization: str,
    root_cn: str,
    signer_cn: str,
    new_key: Callable[[], IssuerKey],
    now: datetime,
    leaf_lifetime: timedelta,
    ocsp_url: str | None = None,
    crl_url: str | None = None,
) -> ForeignCa:
    """A fresh CA whose root (``country``, ``organization``, ``root_cn``) is valid from a day before
    ``now`` for ten years and whose leaf (``signer_cn``) expires ``leaf_lifetime`` after ``now``; both keys
    come from ``new_key``. The leaf names ``ocsp_url`` and ``crl_url`` when given, and nothing else to check
    its revocation with."""
    root_key, leaf_key = new_key(), new_key()
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, root_cn),
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
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(root_ski, critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, signer_cn)]))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + leaf_lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(digital_signature=True, content_commitment=True), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
    )
    if ocsp_url:
        responder = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        leaf = leaf.add_extension(x509.AuthorityInformationAccess([responder]), critical=False)
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        leaf = leaf.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    certificates = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in (root, leaf.sign(root_key, hashes.SHA256()))
    ]
    key_der = leaf_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = signers.SimpleSigner(
        signing_cert=certificates[1],
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(certificates),  # type: ignore[no-untyped-call]
    )
    return ForeignCa(root, root_key, signer)
