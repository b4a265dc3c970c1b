"""The CA's trust services as pyHanko consumes them: the RFC 3161 TSA and the revocation data for DSS.

Signing runs beside the CA, so a time-stamp or an OCSP response costs no HTTP round trip: the
:class:`~pyhanko.sign.timestamps.TimeStamper` hands pyHanko's request to :class:`ca.status.StatusServices`
directly (the transport is the only thing it overrides, as pyHanko intends), and the validation context
is filled with our pre-signed OCSP responses and published CRLs with fetching switched off, so a B-LT
signature embeds exactly what a verifier of the chain will need and never waits on the network.
"""

from __future__ import annotations

from collections.abc import Iterable

from asn1crypto import crl, ocsp, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import ValidationContext

from ca.signing_keys import SubscriberKey
from ca.status import StatusServices

__all__ = ["InProcessTimeStamper", "chain_validation_context", "validation_context"]


class InProcessTimeStamper(TimeStamper):
    """Time-stamps from our own TSA, asked in-process with the same DER request a client would POST."""

    def __init__(self, services: StatusServices) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self._services = services

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(self._services.timestamp_response(req.dump()))


def validation_context(services: StatusServices, key: SubscriberKey) -> ValidationContext:
    """Everything needed to validate ``key``'s and the TSA's chains, without any fetching."""
    return chain_validation_context(services, [key.serial])


def chain_validation_context(services: StatusServices, serials: Iterable[str]) -> ValidationContext:
    """Everything needed to validate the chains of our certificates ``serials`` and of the TSA.

    ``hard-fail``: a certificate whose status we cannot show makes the operation fail rather than
    produce a B-LT document that is not one.
    """
    authority = services.authority
    root = asn1_x509.Certificate.load(authority.root_certificate().public_bytes(Encoding.DER))
    # every generation of our issuing CA: the signer's, the TSA's and each OCSP signer's may differ
    intermediates = [
        asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
        for c in authority.intermediate_certificates()
    ]
    tsa = services.tsa_certificate()
    wanted = dict.fromkeys([*serials, format(tsa.serial_number, "x")])
    return ValidationContext(
        trust_roots=[root],
        other_certs=[*intermediates, tsa],
        ocsps=[ocsp.OCSPResponse.load(services.ocsp_response(serial)) for serial in wanted],
        crls=[crl.CertificateList.load(der) for der in services.crls_for(wanted)],
        allow_fetching=False,
        revocation_mode="hard-fail",
    )
