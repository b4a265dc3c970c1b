"""The PAdES baseline level each signature reaches (ETSI EN 319 142-1, 5.4 to 5.6), judged per signature:

- B-T when a signature time-stamp is embedded;
- B-LT only when the DSS holds what *this* signature's path needs: its own VRI entry, or revocation data
  (an OCSP response or a CRL) for every certificate of its path below the trust anchor;
- B-LTA only when a document time-stamp comes after that DSS data: the DSS of the revision the
  time-stamp covers already holds it.

A DSS that serves another signature, or a document time-stamp over a file without this signature's
validation data, raises nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from asn1crypto import x509 as asn1_x509
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus

from signing.pades import Level
from signing.validation.context import MALFORMED, Embedded

__all__ = ["signature_level", "vri_keys"]


def vri_keys(signature: EmbeddedPdfSignature) -> frozenset[str]:
    """The signature's possible keys in the DSS's /VRI dictionary: SHA-1 of its /Contents, upper-case hex
    (EN 319 142-1, 5.4.2.2), over the whole string as most writers hash it, or over the CMS without the
    zero padding that fills the reserved space, as some do."""
    contents = signature.pkcs7_content
    return frozenset(hashlib.sha1(value).hexdigest().upper() for value in (contents, contents.rstrip(b"\0")))


def signature_level(
    signature: EmbeddedPdfSignature,
    status: PdfSignatureStatus,
    final: Embedded,
    archives: Sequence[EmbeddedPdfSignature],
) -> Level:
    """The highest level ``signature`` reaches; ``final`` is the whole file's DSS, ``archives`` the
    document time-stamps of the file."""
    if status.timestamp_validity is None:
        return Level.B_B
    keys, path = vri_keys(signature), _path_below_anchor(signature, status)
    if not _covers(final, keys, path):
        return Level.B_T
    for archive in archives:
        if archive.signed_revision > signature.signed_revision and _covers(_dss_under(archive), keys, path):
            return Level.B_LTA
    return Level.B_LT


def _path_below_anchor(
    signature: EmbeddedPdfSignature, status: PdfSignatureStatus
) -> list[asn1_x509.Certificate]:
    """The certificates whose revocation status a long-term signature must carry: its path below the trust
    anchor, or the signer's certificate alone when no path was found."""
    path = status.validation_path
    if path is None:
        return [signature.signer_cert]
    return [cert for cert in path.iter_certs(include_root=False) if isinstance(cert, asn1_x509.Certificate)]


def _dss_under(archive: EmbeddedPdfSignature) -> Embedded:
    """The DSS as it was in the revision the document time-stamp ``archive`` covers."""
    try:
        return Embedded.of(archive.reader.get_historical_resolver(archive.signed_revision))
    except MALFORMED:
        return Embedded([], [], [])


def _covers(dss: Embedded, keys: frozenset[str], certificates: Iterable[asn1_x509.Certificate]) -> bool:
    return bool(keys & dss.vri) or all(_has_revocation_data(dss, cert) for cert in certificates)


def _has_revocation_data(dss: Embedded, certificate: asn1_x509.Certificate) -> bool:
    """An OCSP response about ``certificate`` or a CRL of its issuer in ``dss``."""
    for response in dss.ocsps:
        try:
            basic = response["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                cert_id = single["cert_id"]
                algorithm = cert_id["hash_algorithm"]["algorithm"].native
                issuer_hash = hashlib.new(algorithm, certificate.issuer.dump()).digest()
                if (
                    cert_id["serial_number"].native == certificate.serial_number
                    and cert_id["issuer_name_hash"].native == issuer_hash
                ):
                    return True
        except MALFORMED:
            continue
    return any(_issued_by(crl, certificate) for crl in dss.crls)


def _issued_by(crl: object, certificate: asn1_x509.Certificate) -> bool:
    try:
        return bool(crl["tbs_cert_list"]["issuer"] == certificate.issuer)  # type: ignore[index]
    except MALFORMED:
        return False
