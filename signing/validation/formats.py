"""Every signature field that holds a signature, whatever its format (ISO 32000-1, 12.8.3).

pyHanko's ``reader.embedded_signatures`` skips, with a logged traceback, a signature whose /SubFilter it
does not know (``adbe.x509.rsa_sha1``, written by signing software until the mid-2000s:
a bare PKCS#1 signature in /Contents, the certificate in /Cert), and raises on one whose CMS it cannot
parse. The document then looked unsigned, though poppler and Acrobat list the signature. Here each such
field becomes an :class:`Unjudgeable` that the report shows as INDETERMINATE / FORMAT_FAILURE with a
sentence (EN 319 102-1, 5.2.2: the format checking building block could not process it).
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.validation import EmbeddedPdfSignature

from signing.validation.context import MALFORMED
from signing.validation.report import (
    Check,
    Indication,
    SignatureVerdict,
    Signer,
    SubIndication,
)
from signing.validation.texts import NOT_ANALYSED, SENTENCES_EN, SENTENCES_VI

__all__ = ["Unjudgeable", "format_failure", "signature_fields"]

_JUDGED = frozenset(str(sub_filter.value) for sub_filter in SigSeedSubFilter)
_RSA_SHA1 = "/adbe.x509.rsa_sha1"


@dataclass(frozen=True)
class Unjudgeable:
    """A filled signature field pyHanko cannot validate, and why (for experts)."""

    field_name: str
    sub_filter: str | None  # e.g. "/adbe.x509.rsa_sha1"; None when the signature names none
    reason: str
    signer: Signer | None  # from /Cert when a legacy signature carries its certificate there
    legacy: bool  # a sub-filter that is defined but not supported (as opposed to a broken structure)
    signature_value: Check | None = None  # a legacy RSA signature checked over its byte ranges, for experts


def signature_fields(reader: PdfFileReader) -> list[EmbeddedPdfSignature | Unjudgeable]:
    """The signatures and document time-stamps pyHanko can judge, in the order they were made, then
    those it cannot, in field order."""
    judged: list[EmbeddedPdfSignature] = []
    others: list[Unjudgeable] = []
    for name, value, field in enumerate_sig_fields(reader, filled_status=True):
        signature = value.get_object()
        sub_filter = signature.get("/SubFilter") if isinstance(signature, generic.DictionaryObject) else None
        if sub_filter is not None and str(sub_filter) not in _JUDGED:
            others.append(_unsupported(reader, str(name), signature, str(sub_filter)))
            continue
        try:
            judged.append(EmbeddedPdfSignature(reader, field, name))
        except MALFORMED as error:
            reason = f"{type(error).__name__}: {error}"[:300]
            others.append(Unjudgeable(str(name), _text(sub_filter), reason, None, False))
    judged.sort(key=lambda signature: signature.signed_revision)
    return [*judged, *others]


def format_failure(unjudgeable: Unjudgeable) -> SignatureVerdict:
    """INDETERMINATE / FORMAT_FAILURE for a signature that cannot be checked, saying which format it is."""
    key = "LEGACY_FORMAT" if unjudgeable.legacy else "FORMAT_FAILURE"
    sub_filter = (unjudgeable.sub_filter or "").lstrip("/")
    return SignatureVerdict(
        field_name=unjudgeable.field_name,
        kind="signature",
        indication=Indication.INDETERMINATE,
        sub_indication=SubIndication.FORMAT_FAILURE,
        summary_vi=SENTENCES_VI[key].format(sub_filter=sub_filter),
        summary_en=SENTENCES_EN[key].format(sub_filter=sub_filter),
        signer=unjudgeable.signer,
        signing_time=None,
        level=None,
        modifications=NOT_ANALYSED[1],
        modifications_vi=NOT_ANALYSED[0],
        trust_anchor=None,
        checks=[
            Check.of("structure", False, unjudgeable.reason),
            *([unjudgeable.signature_value] if unjudgeable.signature_value is not None else []),
        ],
    )


def _unsupported(
    reader: PdfFileReader, name: str, signature: generic.DictionaryObject, sub_filter: str
) -> Unjudgeable:
    """A signature in a format pyHanko does not validate, with its signer and, for ``adbe.x509.rsa_sha1``,
    its RSA value checked."""
    certificate = _legacy_certificate(signature)
    return Unjudgeable(
        field_name=name,
        sub_filter=sub_filter,
        reason=f"the sub-filter {sub_filter} is not one pyHanko validates",
        signer=Signer.of(certificate) if certificate is not None else None,
        legacy=True,
        signature_value=_rsa_sha1_value(reader, signature, certificate) if sub_filter == _RSA_SHA1 else None,
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _legacy_certificate(signature: object) -> asn1_x509.Certificate | None:
    """The signer's certificate in a legacy signature's /Cert (one certificate, or the signer's first of an
    array)."""
    if not isinstance(signature, generic.DictionaryObject):
        return None
    try:
        cert = signature.get("/Cert")
        first = cert[0] if isinstance(cert, generic.ArrayObject) else cert
        if not isinstance(first, generic.ByteStringObject | generic.TextStringObject):
            return None
        return asn1_x509.Certificate.load(first.original_bytes)
    except MALFORMED:
        return None


def _rsa_sha1_value(
    reader: PdfFileReader, signature: generic.DictionaryObject, certificate: asn1_x509.Certificate | None
) -> Check:
    """ISO 32000-1, 12.8.3.2: the PKCS#1 v1.5 RSA signature (a DER OCTET STRING in /Contents) of the SHA-1
    digest of the byte ranges, checked with /Cert's key; it tells whether the signed bytes are intact,
    though the format (and SHA-1) keeps the verdict INDETERMINATE."""
    detail = "sha1 with rsa (adbe.x509.rsa_sha1)"
    try:
        if certificate is None:
            return Check.of("signature", False, f"{detail}: no certificate in /Cert")
        start, first, second, rest = (int(n) for n in signature["/ByteRange"])
        stream = reader.stream
        stream.seek(start)
        signed = stream.read(first)
        stream.seek(second)
        signed += stream.read(rest)
        value = asn1_core.OctetString.load(bytes(signature["/Contents"].original_bytes), strict=False).native
        key = load_der_public_key(certificate.public_key.dump())
        if not isinstance(key, rsa.RSAPublicKey):
            return Check.of("signature", False, f"{detail}: the key in /Cert is not RSA")
        key.verify(value, signed, padding.PKCS1v15(), hashes.SHA1())
    except InvalidSignature:
        return Check.of("signature", False, f"{detail}: does not match the signed bytes")
    except MALFORMED as error:
        return Check.of("signature", False, f"{detail}: {type(error).__name__}: {error}"[:300])
    return Check.of("signature", True, detail)
