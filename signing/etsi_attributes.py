"""The signature attributes of an ETSI TS 119 102-2 report (its ``SignatureAttributes`` element), read from a
PDF signature: those the signer signed (claimed signing time, signing certificate reference, message digest,
reason, name, location, contact, sub-filter, byte range) and those added after (the signature time-stamp,
the DSS, document time-stamps), for :mod:`signing.etsi_report`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from asn1crypto import cms
from pyhanko.generated.etsi import ts_11910202, xades
from pyhanko.generated.w3c import xmldsig_core
from pyhanko.sign.validation import EmbeddedPdfSignature
from xsdata.models.datatype import XmlDateTime

__all__ = [
    "TimeStampAttribute",
    "digest_alg_and_value",
    "digest_method",
    "signature_attributes",
    "tst_time",
    "xml_text",
]

# what XML 1.0 cannot carry (its Char production): control characters, surrogates, U+FFFE and U+FFFF
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_DIGEST_URIS = {  # XML Signature's algorithm identifiers
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
    "sha224": "http://www.w3.org/2001/04/xmldsig-more#sha224",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
}


def xml_text(text: str) -> str:
    """``text`` as XML can carry it: a signer writes /Reason, /Name and the certificate's names, and one
    control character among them would stop the whole report being written; each becomes U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def tst_time(signed_data: cms.SignedData) -> dt.datetime:
    time: dt.datetime = signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    return time


def digest_method(algorithm: str) -> xmldsig_core.DigestMethod:
    """XML Signature's identifier of a digest algorithm named as asn1crypto names it (``sha256``)."""
    return xmldsig_core.DigestMethod(_DIGEST_URIS.get(algorithm, f"urn:oid:{algorithm}"))


def digest_alg_and_value(algorithm: str, value: bytes) -> xades.DigestAlgAndValueType:
    return xades.DigestAlgAndValueType(
        digest_method=digest_method(algorithm),
        digest_value=xmldsig_core.DigestValue(value),
    )


TimeStampAttribute = Callable[[cms.SignedData], ts_11910202.SATimestampType]
"""A time-stamp token's attribute: its time and a reference to the token as a validation object."""


def signature_attributes(
    signature: EmbeddedPdfSignature,
    dss: ts_11910202.SADSSType | None,
    later_stamps: tuple[ts_11910202.SATimestampType, ...],
    time_stamp: TimeStampAttribute,
) -> ts_11910202.SignatureAttributesType:
    """The signature's attributes, signed (in the CMS signed attributes or the signature dictionary) or
    not (the signature time-stamp, the DSS, later document time-stamps)."""
    dictionary = signature.sig_object
    signed_attrs = signature.signer_info["signed_attrs"]

    def entry(key: str) -> str | None:
        return xml_text(str(dictionary[key])) if key in dictionary else None

    claimed = signature.self_reported_timestamp
    stamp = _signature_time_stamp(signature.signer_info)
    digest = next((a["values"][0].native for a in signed_attrs if a["type"].native == "message_digest"), None)
    reason, name, location, contact = (
        entry("/Reason"),
        entry("/Name"),
        entry("/Location"),
        entry("/ContactInfo"),
    )
    return ts_11910202.SignatureAttributesType(
        signing_time=(
            (ts_11910202.SASigningTimeType(signed=True, time=XmlDateTime.from_datetime(claimed)),)
            if claimed
            else ()
        ),
        signing_certificate=_signing_certificate(signed_attrs),
        message_digest=(ts_11910202.SAMessageDigestType(signed=True, digest=digest),) if digest else (),
        signature_time_stamp=(time_stamp(stamp),) if stamp is not None else (),
        dss=(dss,) if dss is not None else (),
        doc_time_stamp=later_stamps,
        reason=(ts_11910202.SAReasonType(signed=True, reason_element=reason),) if reason else (),
        name=(ts_11910202.SANameType(signed=True, name_element=name),) if name else (),
        signature_production_place=(
            (ts_11910202.SASignatureProductionPlaceType(signed=True, address_string=(location,)),)
            if location
            else ()
        ),
        contact_info=(
            (ts_11910202.SAContactInfoType(signed=True, contact_info_element=contact),) if contact else ()
        ),
        sub_filter=(
            ts_11910202.SASubFilterType(
                signed=True, sub_filter_element=xml_text(str(dictionary["/SubFilter"])[1:])
            ),
        ),
        byte_range=(tuple(int(x) for x in dictionary["/ByteRange"]),),
        filter=(ts_11910202.SAFilterType(filter=xml_text(str(dictionary["/Filter"])[1:])),),
    )


def _signature_time_stamp(signer_info: cms.SignerInfo) -> cms.SignedData | None:
    for attribute in signer_info["unsigned_attrs"] or ():
        if attribute["type"].native == "signature_time_stamp_token":
            token: cms.SignedData = attribute["values"][0]["content"]
            return token
    return None


def _signing_certificate(signed_attrs: cms.CMSAttributes) -> tuple[ts_11910202.SACertIDListType, ...]:
    """ESS signing-certificate(-v2): the digest of the certificate the signer committed to."""
    for attribute in signed_attrs:
        kind = attribute["type"].native
        if kind not in ("signing_certificate", "signing_certificate_v2"):
            continue
        ids = []
        for cert_id in attribute["values"][0]["certs"]:
            algorithm = (
                "sha1" if kind == "signing_certificate" else cert_id["hash_algorithm"]["algorithm"].native
            )
            ids.append(
                ts_11910202.SACertIDType(
                    digest_method=digest_method(algorithm),
                    digest_value=xmldsig_core.DigestValue(cert_id["cert_hash"].native),
                )
            )
        return (ts_11910202.SACertIDListType(signed=True, cert_id=tuple(ids)),)
    return ()
