"""The validation report as ETSI TS 119 102-2 XML (the standard's signature validation report), built with
the standard's own bindings that pyHanko ships (``pyhanko.generated.etsi.ts_11910202``, serialised by xsdata).

The verdict is ours, not re-derived: each signature's main indication and sub-indication are those of
:class:`signing.validation.ValidationReport` written as the standard's URNs, so the XML and the JSON
report can never disagree. What the XML adds is read from the PDF itself, as pyHanko's incubating generator
(``pyhanko.sign.validation.report.tools``) does: the signature identifier (signature value, digest of the
signed attributes: the DTBSR), the digest of the signer's document, the signature attributes (claimed signing
time, signing certificate reference, message digest, time-stamps, reason, name, location, contact, sub-filter,
byte range, filter, DSS), the signer's certificate and its chain, and the DSS's certificates, OCSP responses
and CRLs as validation objects referenced by their SHA-256.

A signature whose structure cannot be read still gets its report element, with the indication and whatever
could be read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from pyhanko.generated.etsi import ts_11910202
from pyhanko.generated.w3c import xmldsig_core
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.ades import (
    derive_validation_object_binary_data,
    derive_validation_object_identifier,
)
from pyhanko_certvalidator.ltv.poe import ValidationObject, ValidationObjectType
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig
from xsdata.models.datatype import XmlDateTime

from signing.etsi_attributes import digest_alg_and_value, signature_attributes, tst_time, xml_text
from signing.validation import Indication, SignatureVerdict, TrustStore, ValidationReport
from signing.validation.context import MALFORMED, Embedded

__all__ = ["MAIN_INDICATION_URN", "NAMESPACES", "etsi_report", "etsi_report_xml", "sub_indication_urn"]

NAMESPACES = {
    "vr": "http://uri.etsi.org/19102/v1.2.1#",
    "XAdES": "http://uri.etsi.org/01903/v1.3.2#",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
MAIN_INDICATION_URN = {  # TS 119 102-2, 5.2.7: the main indication
    Indication.TOTAL_PASSED: "urn:etsi:019102:mainindication:total-passed",
    Indication.TOTAL_FAILED: "urn:etsi:019102:mainindication:total-failed",
    Indication.INDETERMINATE: "urn:etsi:019102:mainindication:indeterminate",
}
_PROCESS = "urn:etsi:019102:validationprocess:"  # Basic, LTVM (with time), LTA (with long-term data)
_POE_BY_VALIDATION = "urn:etsi:019102:poetype:validation"


def sub_indication_urn(name: str) -> str:
    """TS 119 102-2's URN of an EN 319 102-1 sub-indication (``HASH_FAILURE`` ...)."""
    return f"urn:etsi:019102:subindication:{name}"


def etsi_report_xml(source: Path, report: ValidationReport, trust: TrustStore) -> bytes:
    """:func:`etsi_report` serialised as UTF-8 XML with the standard's namespace prefixes."""
    serializer = XmlSerializer(config=SerializerConfig(indent="  "))
    return serializer.render(etsi_report(source, report, trust), ns_map=NAMESPACES).encode()


def etsi_report(source: Path, report: ValidationReport, trust: TrustStore) -> ts_11910202.ValidationReport:
    """The TS 119 102-2 report of ``report``, made by validating ``source`` against ``trust`` (whose anchors
    and intermediates complete the chains a document carries only in part)."""
    certificates = [*(anchor.certificate for anchor in trust.anchors), *trust.intermediates]
    objects = _ValidationObjects()
    with source.open("rb") as stream:
        reader = PdfFileReader(stream, strict=False)
        embedded = _signatures_by_field(reader)
        carried = Embedded.of(reader)
        dss = _dss_attribute(carried, objects)
        pool = [*carried.certificates, *certificates]
        validated_at = XmlDateTime.from_datetime(dt.datetime.fromisoformat(report.validated_at))
        stamps = _document_time_stamps(embedded.values())
        reports = tuple(
            _signature_report(
                verdict, embedded.get(verdict.field_name), validated_at, pool, dss, stamps, objects
            )
            for verdict in report.signatures
        )
    return ts_11910202.ValidationReport(
        signature_validation_report=reports,
        signature_validation_objects=ts_11910202.ValidationObjectListType(objects.listed()),
    )


def _signatures_by_field(reader: PdfFileReader) -> dict[str, EmbeddedPdfSignature]:
    found: dict[str, EmbeddedPdfSignature] = {}
    try:
        signatures = reader.embedded_signatures
    except MALFORMED:
        return found  # the report has every verdict already; each gets its status alone
    for signature in signatures:
        try:
            found[str(signature.field_name)] = signature
        except MALFORMED:
            continue
    return found


class _ValidationObjects:
    """The report's list of validation objects, each once, referenced by TS 119 102-2 identifiers."""

    def __init__(self) -> None:
        self._listed: dict[str, ts_11910202.ValidationObjectType] = {}

    def reference(self, object_type: ValidationObjectType, value: Any) -> str:
        vo = ValidationObject(object_type=object_type, value=value)
        identifier = derive_validation_object_identifier(vo)
        assert identifier is not None, "every type given here has an identifier"
        if identifier not in self._listed:
            data = derive_validation_object_binary_data(vo)
            self._listed[identifier] = ts_11910202.ValidationObjectType(
                id=identifier,
                object_type=f"urn:etsi:019102:validationObject:{object_type.value}",
                validation_object_representation=ts_11910202.ValidationObjectRepresentationType(base64=data),
            )
        return identifier

    def certificate(self, certificate: asn1_x509.Certificate) -> ts_11910202.VOReferenceType:
        return ts_11910202.VOReferenceType(
            voreference=(self.reference(ValidationObjectType.CERTIFICATE, certificate),)
        )

    def time_stamp(self, token: cms.SignedData) -> ts_11910202.SATimestampType:
        """A time-stamp token's attribute: its time, and the token as a validation object."""
        return ts_11910202.SATimestampType(
            signed=False,
            time_stamp_value=XmlDateTime.from_datetime(tst_time(token)),
            attribute_object=(
                ts_11910202.VOReferenceType(
                    voreference=(self.reference(ValidationObjectType.TIMESTAMP, token),)
                ),
            ),
        )

    def listed(self) -> tuple[ts_11910202.ValidationObjectType, ...]:
        return tuple(self._listed.values())


def _dss_attribute(carried: Embedded, objects: _ValidationObjects) -> ts_11910202.SADSSType | None:
    """The document's DSS as a signature attribute, its contents as validation objects (PAdES: one DSS for
    the document, so every signature's report names the same one)."""
    if not (carried.certificates or carried.ocsps or carried.crls):
        return None

    def references(kind: ValidationObjectType, values: Sequence[Any]) -> ts_11910202.VOReferenceType | None:
        if not values:
            return None
        return ts_11910202.VOReferenceType(
            voreference=tuple(objects.reference(kind, value) for value in values)
        )

    return ts_11910202.SADSSType(
        signed=False,
        certs=references(ValidationObjectType.CERTIFICATE, carried.certificates),
        ocsps=references(
            ValidationObjectType.OCSP_RESPONSE, [OCSPContainer(ocsp_response_data=o) for o in carried.ocsps]
        ),
        crls=references(ValidationObjectType.CRL, [CRLContainer(crl_data=c) for c in carried.crls]),
    )


def _document_time_stamps(signatures: Iterable[EmbeddedPdfSignature]) -> list[tuple[int, cms.SignedData]]:
    """(revision, token) of each document time-stamp: those after a signature's revision cover it."""
    found = []
    for signature in signatures:
        try:
            if signature.sig_object_type == "/DocTimeStamp":
                found.append((signature.signed_revision, signature.signed_data))
        except MALFORMED:
            continue
    return found


def _signature_report(
    verdict: SignatureVerdict,
    signature: EmbeddedPdfSignature | None,
    validated_at: XmlDateTime,
    pool: list[asn1_x509.Certificate],
    dss: ts_11910202.SADSSType | None,
    stamps: list[tuple[int, cms.SignedData]],
    objects: _ValidationObjects,
) -> ts_11910202.SignatureValidationReportType:
    """One signature's report element: our verdict, and what the PDF says about the signature."""
    status = ts_11910202.ValidationStatusType(
        main_indication=MAIN_INDICATION_URN[verdict.indication],
        sub_indication=(sub_indication_urn(verdict.sub_indication),) if verdict.sub_indication else (),
    )
    proven = _proven_time(verdict)
    timing = ts_11910202.ValidationTimeInfoType(
        validation_time=validated_at,
        best_signature_time=(
            ts_11910202.POEType(poetime=XmlDateTime.from_datetime(proven), type_of_proof=_POE_BY_VALIDATION)
            if proven is not None
            else None
        ),
    )
    process = ts_11910202.SignatureValidationProcessType(
        signature_validation_process_id=_PROCESS
        + ("Basic" if proven is None else "LTA" if verdict.level == "B-LTA" else "LTVM")
    )
    if signature is None:
        return ts_11910202.SignatureValidationReportType(
            validation_time_info=timing,
            signature_validation_process=process,
            signature_validation_status=status,
        )
    try:
        later_stamps = tuple(
            objects.time_stamp(token) for revision, token in stamps if revision > signature.signed_revision
        )
        chain = _chain(signature.signer_cert, [*_cms_certificates(signature.signed_data), *pool])
        anchored = verdict.trust_anchor is not None
        status = ts_11910202.ValidationStatusType(
            main_indication=status.main_indication,
            sub_indication=status.sub_indication,
            associated_validation_report_data=(
                ts_11910202.ValidationReportDataType(
                    certificate_chain=_chain_references(chain, objects, anchored=anchored)
                ),
            ),
        )
        return ts_11910202.SignatureValidationReportType(
            signature_identifier=_identifier(signature),
            validation_time_info=timing,
            signers_document=ts_11910202.SignersDocumentType(
                digest_alg_and_value=digest_alg_and_value(signature.md_algorithm, signature.compute_digest())
            ),
            signature_attributes=signature_attributes(signature, dss, later_stamps, objects.time_stamp),
            signer_information=ts_11910202.SignerInformationType(
                signer_certificate=objects.certificate(signature.signer_cert),
                signer=xml_text(signature.signer_cert.subject.human_friendly),
            ),
            signature_validation_process=process,
            signature_validation_status=status,
        )
    except MALFORMED:
        return ts_11910202.SignatureValidationReportType(
            validation_time_info=timing,
            signature_validation_process=process,
            signature_validation_status=status,
        )


def _proven_time(verdict: SignatureVerdict) -> dt.datetime | None:
    """The best signature time, when a trusted time-stamp proves it (a claimed time proves nothing)."""
    if verdict.signing_time is None:
        return None
    if verdict.kind == "document-timestamp":
        proven = verdict.indication is Indication.TOTAL_PASSED
    else:
        proven = any(check.code == "timestamp" and check.passed for check in verdict.checks)
    return dt.datetime.fromisoformat(verdict.signing_time) if proven else None


def _identifier(signature: EmbeddedPdfSignature) -> ts_11910202.SignatureIdentifierType:
    """The signature value and the digest of the data to be signed (the DER of the signed attributes)."""
    signer_info = signature.signer_info
    digest = hashes.Hash(_HASHES[signature.md_algorithm]())
    digest.update(signer_info["signed_attrs"].dump())
    return ts_11910202.SignatureIdentifierType(
        signature_value=xmldsig_core.SignatureValue(signer_info["signature"].native),
        digest_alg_and_value=digest_alg_and_value(signature.md_algorithm, digest.finalize()),
        hash_only=False,
        doc_hash_only=False,
    )


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _cms_certificates(signed_data: cms.SignedData) -> list[asn1_x509.Certificate]:
    return [choice.chosen for choice in signed_data["certificates"] or () if choice.name == "certificate"]


def _chain(leaf: asn1_x509.Certificate, pool: list[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    """The leaf and its issuers, as far as ``pool`` holds them (matched by name and key identifier)."""
    chain = [leaf]
    while not chain[-1].self_issued and len(chain) < _LONGEST_CHAIN:
        issuer = next((c for c in pool if _issued(chain[-1], c)), None)
        if issuer is None or issuer in chain:
            break
        chain.append(issuer)
    return chain


_LONGEST_CHAIN = 8


def _issued(child: asn1_x509.Certificate, parent: asn1_x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    wanted = child.authority_key_identifier
    return wanted is None or wanted == parent.key_identifier


def _chain_references(
    chain: list[asn1_x509.Certificate], objects: _ValidationObjects, *, anchored: bool
) -> ts_11910202.CertificateChainType:
    """The chain as references; its last certificate is the trust anchor only when the verdict found one."""
    anchor = chain[-1] if anchored and len(chain) > 1 and chain[-1].self_issued else None
    return ts_11910202.CertificateChainType(
        signing_certificate=objects.certificate(chain[0]),
        intermediate_certificate=tuple(objects.certificate(c) for c in chain[1 : -1 if anchor else None]),
        trust_anchor=objects.certificate(anchor) if anchor is not None else None,
    )
