"""Time-stamp authority: RFC 3161 with RFC 5816 (ESSCertIDv2), profiled by ETSI EN 319 421/422.

Tokens carry the policy of the ceremony file, the request's imprint (SHA-256, SHA-384 or SHA-512 only;
anything else is refused with badAlg), a 128-bit random serial (unique across processes without a shared
counter), genTime in UTC, an accuracy of one second and the request's nonce. The CMS is signed in the HSM
with the TSA key; the TSA certificate is included when the request sets certReq. :meth:`TimeStampAuthority.
timestamp` is the in-process interface the signing service uses; :meth:`respond` serves HTTP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from sqlalchemy.exc import SQLAlchemyError

from ca.authority import Authority, ServiceKey, newest_service_key
from ca.errors import CaError, InvalidRequest
from ca.store import CaSetting, utc_now

__all__ = ["DEFAULT_TSA_POLICY", "TSA_POLICY_SETTING", "TimeStampAuthority"]

log = logging.getLogger("govsign.tsa")
TSA_POLICY_SETTING = "tsa_policy_oid"
DEFAULT_TSA_POLICY = "0.4.0.2023.1.1"  # ETSI EN 319 421 best-practices policy
SIGNER_RELOAD = dt.timedelta(minutes=1)  # how soon a rolled-over TSA key is used by every process
_IMPRINT_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
_SIGNATURE_OIDS = {"rsa-pkcs1v15": "sha256_rsa", "ecdsa": "sha256_ecdsa"}


@dataclass(frozen=True)
class _CertificateParts:
    """DER of everything in a token that depends only on the TSA certificate, encoded once per key:
    asn1crypto re-encodes names placed in new structures on every dump (40 ms of a 47 ms token)."""

    certificate: bytes
    tsa_name: bytes
    signing_certificate_v2: bytes
    signer_identifier: bytes

    @classmethod
    def of(cls, certificate: asn1_x509.Certificate) -> _CertificateParts:
        issuer_and_serial = {"issuer": certificate.issuer, "serial_number": certificate.serial_number}
        ess_cert_id = {
            "hash_algorithm": {"algorithm": "sha256"},
            "cert_hash": hashlib.sha256(certificate.dump()).digest(),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName(name="directory_name", value=certificate.issuer)],
                "serial_number": certificate.serial_number,
            },
        }
        return cls(
            certificate=certificate.dump(),
            tsa_name=asn1_x509.GeneralName(name="directory_name", value=certificate.subject).dump(),
            signing_certificate_v2=cms.CMSAttribute(
                {"type": "signing_certificate_v2", "values": [{"certs": [ess_cert_id]}]}
            ).dump(),
            signer_identifier=cms.SignerIdentifier(
                name="issuer_and_serial_number", value=issuer_and_serial
            ).dump(),
        )


@dataclass(frozen=True)
class _Signer:
    """The TSA key and its certificate's encoded parts, published together: a thread never sees one
    without the other."""

    key: ServiceKey
    parts: _CertificateParts
    loaded_at: dt.datetime


class _Rejection(Exception):
    def __init__(self, failure: str, text: str) -> None:
        super().__init__(text)
        self.failure = failure


class TimeStampAuthority:
    """Issues RFC 3161 time-stamp tokens with the newest valid TSA certificate of the authority."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        with authority.database.transaction() as session:
            policy = session.get(CaSetting, TSA_POLICY_SETTING)
        self.policy = policy.value if policy else DEFAULT_TSA_POLICY
        self._signer: _Signer | None = None
        self._signer_lock = threading.Lock()

    def key(self) -> ServiceKey:
        return self._loaded_signer().key

    def _loaded_signer(self) -> _Signer:
        """The key and parts, looked up again every ``SIGNER_RELOAD`` so that a rollover (``govsign ca
        rollover tsa``, in another process) reaches every process within a minute; the old key stays valid
        meanwhile. A fresh server's first requests arrive together on several threads; each must wait for
        one complete signer rather than find a key whose parts are not yet encoded (which failed them with a
        500)."""
        signer = self._signer
        if signer is not None and utc_now() < signer.loaded_at + SIGNER_RELOAD:
            return signer
        with self._signer_lock:
            if self._signer is None or self._signer is signer:
                key = newest_service_key(self.authority, "tsa")
                self._signer = _Signer(key, _CertificateParts.of(key.certificate), utc_now())
            return self._signer

    def timestamp(
        self,
        digest: bytes,
        hash_algorithm: str,
        *,
        nonce: int | None = None,
        include_certificate: bool = True,
    ) -> bytes:
        """A TimeStampToken (DER ContentInfo) over ``digest``; raises InvalidRequest for a refused hash."""
        try:
            return bytes(self._token(digest, hash_algorithm, nonce, include_certificate, None).dump())
        except _Rejection as rejection:
            raise InvalidRequest(str(rejection)) from None

    def respond(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq: granted, or rejection with an RFC 3161 failInfo."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            if request["version"].native != "v1":
                raise _Rejection("bad_request", "only version 1 requests are understood")
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = bytes(imprint["hashed_message"].native)
            policy = request["req_policy"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            if request["extensions"].native:
                raise _Rejection("unaccepted_extensions", "no request extensions are supported")
            token = self._token(digest, algorithm, nonce, cert_req, policy)
        except _Rejection as rejection:
            return _rejection(rejection.failure, str(rejection))
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_data_format", "the request is not a DER TimeStampReq")
        except (CaError, SQLAlchemyError) as error:
            log.warning("TSA answered systemFailure: %s: %s", type(error).__name__, error)
            return _rejection("system_failure", "the time-stamp unit is unavailable; try again shortly")
        return bytes(tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump())

    def _token(
        self, digest: bytes, algorithm: str, nonce: int | None, include_certificate: bool, policy: str | None
    ) -> cms.ContentInfo:
        if algorithm not in _IMPRINT_SIZES:
            raise _Rejection("bad_alg", f"{algorithm} imprints are refused; use SHA-256, SHA-384 or SHA-512")
        if len(digest) != _IMPRINT_SIZES[algorithm]:
            raise _Rejection("bad_data_format", f"a {algorithm} imprint is {_IMPRINT_SIZES[algorithm]} bytes")
        if policy is not None and policy != self.policy:
            raise _Rejection("unaccepted_policy", f"this TSA issues under policy {self.policy} only")
        signer = self._loaded_signer()
        key, parts = signer.key, signer.parts
        now = utc_now()
        info: dict[str, object] = {
            "version": "v1",
            "policy": self.policy,
            "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
            "serial_number": secrets.randbits(128),
            "gen_time": now.replace(microsecond=now.microsecond // 1000 * 1000),  # millisecond precision
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": asn1_x509.GeneralName.load(parts.tsa_name),
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_der = tsp.TSTInfo(info).dump()
        signed_attributes = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]},
                cms.CMSAttribute.load(parts.signing_certificate_v2),
            ]
        )
        scheme = key.algorithm.default_signature
        signature = self.authority.token.sign(key.key_id, signed_attributes.dump(), scheme)
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier.load(parts.signer_identifier),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attributes,
                "signature_algorithm": algos.SignedDigestAlgorithm(
                    {"algorithm": _SIGNATURE_OIDS[scheme.scheme]}
                ),
                "signature": signature,
            }
        )
        signed_data: dict[str, object] = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(tst_der)},
            "signer_infos": [signer_info],
        }
        if include_certificate:
            signed_data["certificates"] = [asn1_x509.Certificate.load(parts.certificate)]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


class _RejectionResp(core.Sequence):  # type: ignore[misc]  # asn1crypto ships no type hints
    """TimeStampResp without its token: asn1crypto's own class makes the token mandatory, RFC 3161 does not."""

    _fields = [("status", tsp.PKIStatusInfo)]  # noqa: RUF012 (asn1crypto's declaration style)


def _rejection(failure: str, text: str) -> bytes:
    status = {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({failure})}
    return bytes(_RejectionResp({"status": status}).dump())
