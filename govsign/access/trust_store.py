"""Which certificates a verifier trusts: our own chain, the ones administrators trusted, and files named
for one run; and reading certificates from PEM or DER."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.authority import Authority
from ca.errors import InvalidRequest
from govsign.access.trust_anchors import TrustRole, list_trusted_certificates
from signing.validation import TrustAnchor, TrustStore

__all__ = [
    "MAX_CERTIFICATE_BYTES",
    "one_uploaded_certificate",
    "parse_certificates",
    "read_certificates",
    "trust_store",
]

MAX_CERTIFICATE_BYTES = 64 * 1024  # an uploaded certificate file; the faces read at most one byte more


def read_certificates(path: Path) -> list[asn1_x509.Certificate]:
    """Every certificate in a PEM or DER file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidRequest(f"cannot read {path}: {error.strerror}") from None
    return parse_certificates(data, str(path))


def parse_certificates(data: bytes, source: str) -> list[asn1_x509.Certificate]:
    """Every certificate in PEM or DER ``data`` (``source`` names it in the error)."""
    try:
        if pem.detect(data):
            certificates = [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        else:
            certificates = [asn1_x509.Certificate.load(data)]
        _ = [certificate.native for certificate in certificates]  # asn1crypto parses lazily: fail here
    except ValueError as error:
        raise InvalidRequest(f"{source} holds no X.509 certificate ({error})") from None
    if not certificates:
        raise InvalidRequest(f"{source} holds no X.509 certificate")
    return certificates


def one_uploaded_certificate(data: bytes, source: str) -> asn1_x509.Certificate:
    """The one certificate of an uploaded PEM or DER file of at most :data:`MAX_CERTIFICATE_BYTES`."""
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise InvalidRequest(f"a certificate file is at most {MAX_CERTIFICATE_BYTES // 1024} KiB")
    parsed = parse_certificates(data, source)
    if len(parsed) != 1:
        raise InvalidRequest(f"the file holds {len(parsed)} certificates; add them one by one")
    return parsed[0]


def trust_store(authority: Authority, extra_roots: Iterable[Path] = ()) -> TrustStore:
    """Our root (and every generation of our issuing CA, to help leaf-only paths: a rolled-over one still
    vouches for the certificates it issued), the certificates administrators trusted in the database, and
    roots from files named for one run (``govsign verify --trust``)."""
    root = asn1_x509.Certificate.load(authority.root_certificate().public_bytes(Encoding.DER))
    anchors = [TrustAnchor("govsign root CA", root)]
    intermediates = [
        asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
        for c in authority.intermediate_certificates()
    ]
    for entry in list_trusted_certificates(authority):
        if entry.role is TrustRole.ANCHOR:
            anchors.append(entry.as_anchor())
        else:
            intermediates.append(entry.certificate)
    for path in extra_roots:
        anchors += [
            TrustAnchor(f"{path.name}: {c.subject.human_friendly}", c) for c in read_certificates(path)
        ]
    return TrustStore(anchors=tuple(anchors), intermediates=tuple(intermediates))
