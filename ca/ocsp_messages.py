"""The OCSP messages on the wire (RFC 6960): an answer with what HTTP caching may make of it, the
status-only answers, and a parsed request."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from asn1crypto import core
from asn1crypto import ocsp as asn1_ocsp

__all__ = [
    "MALFORMED_REQUEST",
    "TRY_LATER",
    "UNAUTHORIZED",
    "OcspAnswer",
    "ParsedRequest",
    "parse_request",
]


@dataclass(frozen=True)
class OcspAnswer:
    """DER of an OCSPResponse, and what HTTP caching may make of it (None: not cacheable)."""

    der: bytes
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.der, usedforsecurity=False).hexdigest() + '"'


def _status_only(status: str) -> bytes:
    return bytes(asn1_ocsp.OCSPResponse({"response_status": status}).dump())


MALFORMED_REQUEST = _status_only("malformed_request")
UNAUTHORIZED = _status_only("unauthorized")
TRY_LATER = _status_only("try_later")


@dataclass(frozen=True)
class ParsedRequest:
    cert_id: asn1_ocsp.CertId
    algorithm: str
    name_hash: bytes
    key_hash: bytes
    serial: str
    nonce: bytes | None

    @property
    def standard(self) -> bool:
        """A request the pre-signed response answers: SHA-1 CertID and no nonce (RFC 5019)."""
        return self.nonce is None and self.algorithm == "sha1"


def parse_request(request_der: bytes) -> ParsedRequest | OcspAnswer:
    try:
        request = asn1_ocsp.OCSPRequest.load(request_der)
        tbs = request["tbs_request"]
        requests = tbs["request_list"]
        if len(requests) != 1:
            return OcspAnswer(MALFORMED_REQUEST)
        cert_id = requests[0]["req_cert"]
        return ParsedRequest(
            cert_id=cert_id,
            algorithm=cert_id["hash_algorithm"]["algorithm"].native,
            name_hash=bytes(cert_id["issuer_name_hash"].native),
            key_hash=bytes(cert_id["issuer_key_hash"].native),
            serial=format(int(cert_id["serial_number"].native), "x"),
            nonce=_nonce(tbs),
        )
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return OcspAnswer(MALFORMED_REQUEST)


def _nonce(tbs: asn1_ocsp.TBSRequest) -> bytes | None:
    for extension in tbs["request_extensions"] or []:
        if extension["extn_id"].native == "nonce":
            value = extension["extn_value"].parsed
            return bytes(
                value.native if isinstance(value, core.OctetString) else extension["extn_value"].native
            )
    return None
