"""The certificate chain behind a signature, as a verifier wants to see it (issue 13): each certificate
with its subject, issuer, validity and key, its status and where that status came from — the OCSP response
(when it was produced, by whom) or the CRL (its number, when it was issued) that the validation used —
and the signature's time-stamp (the TSA, the time, the accuracy it claims).

Read from pyHanko's validation path and the revocation data its validation context held (embedded in the
document, or fetched); nothing is fetched here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from asn1crypto import cms, crl, ocsp, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator.path import ValidationPath

from signing.validation.report import CertificateStanding, ChainCertificate, SignatureTimestamp, vietnam

__all__ = ["Revocation", "chain_of", "timestamp_of"]

_NIST_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}  # as people name them


@dataclass(frozen=True)
class Revocation:
    """The OCSP responses and CRLs a validation context held when it judged the path."""

    ocsps: tuple[ocsp.OCSPResponse, ...]
    crls: tuple[crl.CertificateList, ...]


def chain_of(status: PdfSignatureStatus, revocation: Revocation) -> list[ChainCertificate]:
    """Leaf first, up to the trust anchor; the signer's certificate alone when no path was built."""
    path: ValidationPath | None = status.validation_path
    certificates = (
        list(path.iter_certs(include_root=True))[::-1] if path is not None else [status.signing_cert]
    )
    anchor = certificates[-1] if path is not None else None
    described = []
    for position, certificate in enumerate(certificates):
        if certificate is anchor:
            standing, source = CertificateStanding.TRUST_ANCHOR, ""
        else:
            issuer = certificates[position + 1] if position + 1 < len(certificates) else None
            standing, source = _standing(certificate, issuer, revocation)
        described.append(_described(certificate, standing, source))
    return described


def timestamp_of(signature: EmbeddedPdfSignature) -> SignatureTimestamp | None:
    """The TSA, time and accuracy of the signature's time-stamp token, if it has one."""
    unsigned = signature.signer_info["unsigned_attrs"]
    tokens = [a["values"][0] for a in unsigned or [] if a["type"].native == "signature_time_stamp_token"]
    if not tokens:
        return None
    signed_data: cms.SignedData = tokens[0]["content"]
    info: tsp.TSTInfo = signed_data["encap_content_info"]["content"].parsed
    signer_serial = signed_data["signer_infos"][0]["sid"].chosen["serial_number"].native
    tsa = next(
        (
            _rfc4514(c.chosen.subject)
            for c in signed_data["certificates"] or []
            if c.chosen.serial_number == signer_serial
        ),
        _rfc4514(info["tsa"].chosen) if info["tsa"].name == "directory_name" else "",
    )
    return SignatureTimestamp(
        tsa=tsa, time=vietnam(info["gen_time"].native), accuracy=_accuracy(info["accuracy"])
    )


def _standing(
    certificate: asn1_x509.Certificate,
    issuer: asn1_x509.Certificate | None,
    revocation: Revocation,
) -> tuple[CertificateStanding, str]:
    for response in revocation.ocsps:
        found = _ocsp_answer(response, certificate, issuer)
        if found is not None:
            return found[0], f"OCSP produced {vietnam(found[1])} by {found[2]}"
    for revocation_list in revocation.crls:
        tbs = revocation_list["tbs_cert_list"]
        if tbs["issuer"] != certificate.issuer:
            continue
        revoked = any(
            entry["user_certificate"].native == certificate.serial_number
            for entry in tbs["revoked_certificates"] or []
        )
        number = revocation_list.crl_number_value
        issued = vietnam(tbs["this_update"].native)
        source = f"CRL #{number.native if number else '?'} issued {issued} by {_rfc4514(tbs['issuer'])}"
        return (CertificateStanding.REVOKED if revoked else CertificateStanding.GOOD), source
    return CertificateStanding.NOT_CHECKED, ""


def _ocsp_answer(
    response: ocsp.OCSPResponse, certificate: asn1_x509.Certificate, issuer: asn1_x509.Certificate | None
) -> tuple[CertificateStanding, dt.datetime, str] | None:
    """(standing, produced at, responder) if ``response`` speaks of ``certificate``."""
    if response["response_status"].native != "successful":
        return None
    data = response.basic_ocsp_response["tbs_response_data"]
    for single in data["responses"]:
        cert_id = single["cert_id"]
        if cert_id["serial_number"].native != certificate.serial_number:
            continue
        if issuer is not None and cert_id["issuer_key_hash"].native not in (
            issuer.public_key.sha1,
            issuer.public_key.sha256,
        ):
            continue
        name = single["cert_status"].name
        standing = {"good": CertificateStanding.GOOD, "revoked": CertificateStanding.REVOKED}.get(
            name, CertificateStanding.NOT_CHECKED
        )
        return standing, data["produced_at"].native, _responder(response)
    return None


def _responder(response: ocsp.OCSPResponse) -> str:
    basic = response.basic_ocsp_response
    for certificate in basic["certs"] or []:
        return _rfc4514(certificate.subject)
    responder = basic["tbs_response_data"]["responder_id"]
    return str(_rfc4514(responder.chosen) if responder.name == "by_name" else responder.chosen.native.hex())


def _described(
    certificate: asn1_x509.Certificate, standing: CertificateStanding, source: str
) -> ChainCertificate:
    validity = certificate["tbs_certificate"]["validity"]
    return ChainCertificate(
        subject=_rfc4514(certificate.subject),
        issuer=_rfc4514(certificate.issuer),
        serial=format(certificate.serial_number, "x"),
        not_before=vietnam(validity["not_before"].native),
        not_after=vietnam(validity["not_after"].native),
        key=_key(certificate.public_key),
        standing=standing,
        status_source=source,
    )


def _key(public_key: asn1_x509.PublicKeyInfo) -> str:
    if public_key.algorithm == "ec":
        curve = str(public_key.curve[1])
        return f"EC {_NIST_CURVES.get(curve, curve)}"
    return f"{public_key.algorithm.upper()} {public_key.bit_size}"


def _accuracy(accuracy: tsp.Accuracy) -> str:
    if not accuracy.native:
        return ""
    parts = [
        (accuracy["seconds"].native, "s"),
        (accuracy["millis"].native, "ms"),
        (accuracy["micros"].native, "µs"),
    ]
    return " ".join(f"{value} {unit}" for value, unit in parts if value)


def _rfc4514(name: asn1_x509.Name) -> str:
    """A name as RFC 4514 writes it (``CN=...,O=...,C=VN``), in no language: asn1crypto's human-friendly
    form labels each part in English ("Common Name: ..."), which a Vietnamese page must not show."""
    rdns = [
        x509.RelativeDistinguishedName(
            [
                x509.NameAttribute(
                    x509.ObjectIdentifier(attribute["type"].dotted), str(attribute["value"].native)
                )
                for attribute in rdn
            ]
        )
        for rdn in name.chosen
    ]
    return x509.Name(rdns).rfc4514_string()
