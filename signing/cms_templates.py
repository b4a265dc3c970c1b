"""What every CMS signature of one key has in common, encoded once and reused as DER.

A one-page invisible signature spent 77 % of its time (cProfile) in asn1crypto re-encoding the same things: the
three certificates it carries (wrapped anew in ``CertificateChoices`` for each signature, which copies
and re-serialises each one), the signer's issuer name and serial, and the signed attributes
(signing-certificate-v2 hashes the certificate and encodes its issuer again). Of all that only the
``messageDigest`` attribute changes from one signature to the next. Objects loaded from DER dump
their original bytes without walking their children, so a template keeps the DER and loads it again
for each signature.

The signed attributes are cached only when they are exactly the attributes that cannot vary for a key
(content type, message digest, signing certificate v2, CMS algorithm protection): a signing-time, a
signature policy or anything else the caller asks for sends that signature down pyHanko's own path.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509

__all__ = [
    "AttributeTemplate",
    "CertificateTemplate",
    "attribute_template",
    "certificate_template",
    "remember_attributes",
]

_MESSAGE_DIGEST = "message_digest"
_INVARIANT_ATTRIBUTES = {
    "content_type",
    _MESSAGE_DIGEST,
    "signing_certificate_v2",
    "cms_algorithm_protection",
}
_TEMPLATES_KEPT = 1024  # keys signing at once in one process; each template is a few kilobytes


@dataclass(frozen=True)
class CertificateTemplate:
    """The SignerIdentifier and the certificate set of a key's signatures, as DER."""

    signer_identifier: bytes
    certificates: bytes

    def signer_identifier_value(self) -> cms.SignerIdentifier:
        return cms.SignerIdentifier.load(self.signer_identifier)

    def certificate_set(self) -> cms.CertificateSet:
        return cms.CertificateSet.load(self.certificates)


@dataclass(frozen=True)
class AttributeTemplate:
    """A key's signed attributes as DER, in pyHanko's order, with a hole where the digest goes."""

    attributes: tuple[bytes | None, ...]  # None: the messageDigest attribute

    def with_digest(self, digest: bytes) -> cms.CMSAttributes:
        values = [
            cms.CMSAttribute({"type": _MESSAGE_DIGEST, "values": [digest]})
            if encoded is None
            else cms.CMSAttribute.load(encoded)
            for encoded in self.attributes
        ]
        return cms.CMSAttributes(values)

    @classmethod
    def of(cls, attributes: cms.CMSAttributes) -> AttributeTemplate | None:
        """The template of ``attributes``, or None when they hold anything that may vary."""
        kinds = [attribute["type"].native for attribute in attributes]
        if set(kinds) - _INVARIANT_ATTRIBUTES or kinds.count(_MESSAGE_DIGEST) != 1:
            return None
        return cls(
            tuple(
                None if kind == _MESSAGE_DIGEST else attribute.dump()
                for kind, attribute in zip(kinds, attributes, strict=True)
            )
        )


class _Templates:
    """A bounded, thread-safe map from what determines a template to the template."""

    def __init__(self) -> None:
        self._kept: OrderedDict[Hashable, CertificateTemplate | AttributeTemplate | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[bool, CertificateTemplate | AttributeTemplate | None]:
        with self._lock:
            if key not in self._kept:
                return False, None
            self._kept.move_to_end(key)
            return True, self._kept[key]

    def put(self, key: Hashable, template: CertificateTemplate | AttributeTemplate | None) -> None:
        with self._lock:
            self._kept[key] = template
            while len(self._kept) > _TEMPLATES_KEPT:
                self._kept.popitem(last=False)


_templates = _Templates()


def certificate_template(
    signing_certificate: asn1_x509.Certificate, others: Sequence[asn1_x509.Certificate]
) -> CertificateTemplate:
    """The SignerIdentifier (issuer and serial) and the set of ``signing_certificate`` and ``others``."""
    key = ("certificates", signing_certificate.dump(), *(c.dump() for c in others))
    found, template = _templates.get(key)
    if found and isinstance(template, CertificateTemplate):
        return template
    identifier = cms.SignerIdentifier(
        {
            "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": signing_certificate.issuer, "serial_number": signing_certificate.serial_number}
            )
        }
    )
    # DER orders a SET OF by the encodings of its members
    encodings = sorted(certificate.dump() for certificate in (*others, signing_certificate))
    choices = [
        cms.CertificateChoices(name="certificate", value=asn1_x509.Certificate.load(encoded))
        for encoded in encodings
    ]
    made = CertificateTemplate(identifier.dump(), cms.CertificateSet(choices).dump(force=True))
    _templates.put(key, made)
    return made


def attribute_template(key: Hashable) -> tuple[bool, AttributeTemplate | None]:
    """(known, template) for the signed attributes described by ``key``; a known None: not cacheable."""
    found, template = _templates.get(("attributes", key))
    return found, template if isinstance(template, AttributeTemplate) else None


def remember_attributes(key: Hashable, attributes: cms.CMSAttributes) -> None:
    _templates.put(("attributes", key), AttributeTemplate.of(attributes))
