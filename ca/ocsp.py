"""OCSP responder: RFC 6960 with the RFC 5019 lightweight profile, built with asn1crypto.

Every certificate of the issuing CA has a response pre-signed by the delegated OCSP signer (key in the HSM),
kept in the database and in each process's memory, so that an ordinary request costs a dictionary look-up
and no HSM operation. Requests that need a fresh signature (a nonce, RFC 8954; a SHA-256 CertID; a serial we
never issued) are rate-limited per client so anonymous traffic cannot exhaust the HSM. A revocation re-signs
that serial's response and records the change; every process polls those changes and drops its copy, so the
new status is served everywhere within a second. Each response carries ArchiveCutoff = the CA's notBefore.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ca.authority import Authority, CaKey, ServiceKey, newest_service_key
from ca.errors import CaError
from ca.rate_limit import RateLimiter
from ca.reasons import RevocationReason
from ca.store import CertificateRecord, OcspChange, OcspResponse, utc_now

__all__ = ["OcspAnswer", "OcspResponder", "RateLimiter"]

log = logging.getLogger("govsign.ocsp")
RESPONSE_VALIDITY = dt.timedelta(days=1)
REFRESH_MARGIN = dt.timedelta(hours=12)  # re-sign when less than this is left before nextUpdate
REMEMBERED_REQUESTS = 100_000  # distinct standard OCSP requests remembered by their bytes
SIGNER_RELOAD_SECONDS = 3600
_SIGNATURE_OIDS = {"rsa-pkcs1v15": "sha256_rsa", "ecdsa": "sha256_ecdsa"}


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
INTERNAL_ERROR = _status_only("internal_error")


class OcspResponder:
    """Answers OCSP requests for the certificates of the authority's issuing CA."""

    def __init__(self, authority: Authority, *, fresh_signatures: RateLimiter | None = None) -> None:
        self.authority = authority
        self.issuer: CaKey = authority.issuing_ca()
        issuer_asn1 = asn1_x509.Certificate.load(
            self.issuer.certificate.public_bytes(serialization.Encoding.DER)
        )
        self._issuer_hashes = {
            "sha1": (issuer_asn1.subject.sha1, issuer_asn1.public_key.sha1),
            "sha256": (issuer_asn1.subject.sha256, issuer_asn1.public_key.sha256),
        }
        self._archive_cutoff = self.issuer.certificate.not_valid_before_utc
        self._cache: dict[str, OcspAnswer] = {}
        self._request_serials: dict[bytes, str] = {}
        self._cache_lock = threading.Lock()
        self._last_change = self._newest_change_id()
        self._last_poll = time.monotonic()
        self._signer: ServiceKey | None = None
        self._signer_loaded = 0.0
        self.fresh_signatures = fresh_signatures or RateLimiter(rate=20, burst=50)

    # -- the signer ---------------------------------------------------------------------------------------

    def signer(self) -> ServiceKey:
        """The newest valid OCSP signer, looked up again every hour so that a renewal made by any process
        reaches every process (the old signer stays valid meanwhile)."""
        stale = time.monotonic() - self._signer_loaded > SIGNER_RELOAD_SECONDS
        if self._signer is None or stale or self._signer.not_after - utc_now() < dt.timedelta(days=1):
            self._signer = newest_service_key(self.authority, "ocsp-signer")
            self._signer_loaded = time.monotonic()
        return self._signer

    # -- building responses ---------------------------------------------------------------------------------

    def sign_response(
        self,
        cert_id: asn1_ocsp.CertId,
        record: CertificateRecord | None,
        *,
        nonce: bytes | None = None,
        now: dt.datetime | None = None,
    ) -> OcspAnswer:
        """Sign a response for one CertID: good, revoked (with time and reason) or unknown (``record`` None)."""
        now = (now or utc_now()).replace(microsecond=0)
        next_update = now + RESPONSE_VALIDITY
        if record is None:
            status = asn1_ocsp.CertStatus(name="unknown", value=core.Null())
        elif record.status == "revoked":
            assert record.revoked_at is not None
            revoked: dict[str, object] = {"revocation_time": record.revoked_at.replace(microsecond=0)}
            if record.revocation_reason and record.revocation_reason != RevocationReason.UNSPECIFIED:
                revoked["revocation_reason"] = RevocationReason(record.revocation_reason).asn1_name
            status = asn1_ocsp.CertStatus(name="revoked", value=asn1_ocsp.RevokedInfo(revoked))
        else:
            status = asn1_ocsp.CertStatus(name="good", value=core.Null())
        single = asn1_ocsp.SingleResponse(
            {
                "cert_id": cert_id,
                "cert_status": status,
                "this_update": now,
                "next_update": next_update,
                "single_extensions": [
                    {"extn_id": "archive_cutoff", "critical": False, "extn_value": self._archive_cutoff}
                ],
            }
        )
        signer = self.signer()
        data = {
            "responder_id": asn1_ocsp.ResponderId(name="by_key", value=signer.certificate.public_key.sha1),
            "produced_at": now,
            "responses": [single],
        }
        if nonce is not None:
            data["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
        tbs = asn1_ocsp.ResponseData(data)
        scheme = signer.algorithm.default_signature
        signature = self.authority.token.sign(signer.key_id, tbs.dump(), scheme)
        basic = asn1_ocsp.BasicOCSPResponse(
            {
                "tbs_response_data": tbs,
                "signature_algorithm": {"algorithm": _SIGNATURE_OIDS[scheme.scheme]},
                "signature": signature,
                "certs": [asn1_x509.Certificate.load(signer.certificate.dump())],  # a fresh copy dumps as is
            }
        )
        response = asn1_ocsp.OCSPResponse(
            {
                "response_status": "successful",
                "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
            }
        )
        return OcspAnswer(response.dump(), now, next_update)

    def cert_id(self, serial: int) -> asn1_ocsp.CertId:
        """The SHA-1 CertID of one of our serials (RFC 5019 §2.1.1), as pre-signed responses carry it."""
        name_hash, key_hash = self._issuer_hashes["sha1"]
        return asn1_ocsp.CertId(
            {
                "hash_algorithm": {"algorithm": "sha1"},
                "issuer_name_hash": name_hash,
                "issuer_key_hash": key_hash,
                "serial_number": serial,
            }
        )

    def presign(self, records: Iterable[CertificateRecord]) -> int:
        """Sign and store the standard response of each record; return how many were signed."""
        count = 0
        for record in records:
            answer = self.sign_response(self.cert_id(int(record.serial, 16)), record)
            self._store(record, answer)
            count += 1
        return count

    def resign_now(self, record: CertificateRecord) -> None:
        """Out-of-schedule re-signature after a revocation: stored, announced to every process, cached here."""
        answer = self.sign_response(self.cert_id(int(record.serial, 16)), record)
        self._store(record, answer, announce=True)

    def _store(self, record: CertificateRecord, answer: OcspAnswer, *, announce: bool = False) -> None:
        assert answer.this_update is not None and answer.next_update is not None
        with self.authority.database.transaction() as session:
            stored = session.execute(
                select(OcspResponse).where(
                    OcspResponse.issuer_id == record.issuer_id, OcspResponse.serial == record.serial
                )
            ).scalar_one_or_none()
            if stored is None:
                stored = OcspResponse(issuer_id=record.issuer_id, serial=record.serial)
                session.add(stored)
            stored.status = record.status
            stored.der = answer.der
            stored.this_update = answer.this_update
            stored.next_update = answer.next_update
            if announce:
                session.add(OcspChange(issuer_id=record.issuer_id, serial=record.serial))
        with self._cache_lock:
            self._cache[record.serial] = answer

    def refresh_due(self, limit: int = 500) -> int:
        """Sign responses that are missing, stale in status, or close to nextUpdate; return how many."""
        soon = utc_now() + REFRESH_MARGIN
        with self.authority.database.transaction() as session:
            records = list(
                session.execute(
                    select(CertificateRecord)
                    .outerjoin(
                        OcspResponse,
                        (OcspResponse.issuer_id == CertificateRecord.issuer_id)
                        & (OcspResponse.serial == CertificateRecord.serial),
                    )
                    .where(
                        CertificateRecord.issuer_id == self.issuer.id,
                        (OcspResponse.id.is_(None))
                        | (OcspResponse.next_update < soon)
                        | (OcspResponse.status != CertificateRecord.status),
                    )
                    .limit(limit)
                ).scalars()
            )
        return self.presign(records)

    # -- answering ------------------------------------------------------------------------------------------------

    def poll_changes(self) -> None:
        """Drop cached responses that another process re-signed (called at least every 200 ms)."""
        with self.authority.database.transaction() as session:
            changes = session.execute(
                select(OcspChange.id, OcspChange.serial).where(OcspChange.id > self._last_change)
            ).all()
        if changes:
            with self._cache_lock:
                for _, serial in changes:
                    self._cache.pop(serial, None)
            self._last_change = max(change_id for change_id, _ in changes)
        self._last_poll = time.monotonic()

    def _newest_change_id(self) -> int:
        with self.authority.database.transaction() as session:
            newest = session.execute(select(OcspChange.id).order_by(OcspChange.id.desc()).limit(1)).scalar()
        return int(newest or 0)

    def cached(self, serial: str) -> OcspAnswer | None:
        """The in-memory response for ``serial`` if it is fresh; never touches the database or the HSM."""
        answer = self._cache.get(serial)
        if (
            answer is None
            or answer.next_update is None
            or answer.next_update - utc_now() < REFRESH_MARGIN / 2
        ):
            return None
        return answer

    def respond(self, request_der: bytes, *, client: str) -> OcspAnswer:
        """The OCSPResponse for a DER OCSPRequest; malformed input gets malformedRequest and an unreachable
        HSM or database tryLater (RFC 6960 §2.3), never an exception."""
        try:
            return self._respond(request_der, client)
        except (CaError, SQLAlchemyError) as error:
            log.warning("OCSP answered tryLater: %s: %s", type(error).__name__, error)
            return OcspAnswer(TRY_LATER)

    def _respond(self, request_der: bytes, client: str) -> OcspAnswer:
        parsed = _parse_request(request_der)
        if isinstance(parsed, OcspAnswer):
            return parsed
        if self._issuer_hashes.get(parsed.algorithm) != (parsed.name_hash, parsed.key_hash):
            return OcspAnswer(UNAUTHORIZED)  # RFC 6960 §2.3: we are not authoritative for that issuer
        if parsed.standard:
            answer = self.cached(parsed.serial) or self._from_database(parsed.serial)
            if answer is not None:
                return answer
        record = self._record(parsed.serial)
        if (not parsed.standard or record is None) and not self.fresh_signatures.allow(client):
            return OcspAnswer(TRY_LATER)
        answer = self.sign_response(parsed.cert_id, record, nonce=parsed.nonce)
        if record is not None and parsed.standard:
            self._store(record, answer)
        return answer if parsed.nonce is None else OcspAnswer(answer.der)

    def respond_from_memory(self, request_der: bytes) -> OcspAnswer | None:
        """The answer if it needs neither the database nor the HSM (the fast path of the HTTP route).

        RFC 5019 clients send the same bytes for the same certificate every time, so the serial each
        standard request names is remembered by its bytes: a repeated request costs two dictionary
        look-ups instead of a DER parse, and still gets the current answer for that serial.
        """
        serial = self._request_serials.get(request_der)
        if serial is None:
            parsed = _parse_request(request_der)
            if isinstance(parsed, OcspAnswer):
                return parsed
            if not parsed.standard or self._issuer_hashes["sha1"] != (parsed.name_hash, parsed.key_hash):
                return None
            serial = parsed.serial
            if len(self._request_serials) >= REMEMBERED_REQUESTS:
                self._request_serials.clear()  # bounded: a flood of distinct requests cannot grow it
            self._request_serials[request_der] = serial
        return self.cached(serial)

    def response_for_serial(self, serial: str) -> OcspAnswer:
        """The standard response for one of our serials: cached, stored, or signed and stored now."""
        answer = self.cached(serial) or self._from_database(serial)
        if answer is not None:
            return answer
        record = self._record(serial)
        answer = self.sign_response(self.cert_id(int(serial, 16)), record)
        if record is not None:
            self._store(record, answer)
        return answer

    def forget_signer(self) -> None:
        """Load the signer certificate again on next use (after a renewal)."""
        self._signer = None

    def _from_database(self, serial: str) -> OcspAnswer | None:
        with self.authority.database.transaction() as session:
            stored = session.execute(
                select(OcspResponse).where(
                    OcspResponse.issuer_id == self.issuer.id, OcspResponse.serial == serial
                )
            ).scalar_one_or_none()
        if stored is None or stored.next_update - utc_now() < REFRESH_MARGIN / 2:
            return None
        answer = OcspAnswer(stored.der, stored.this_update, stored.next_update)
        with self._cache_lock:
            self._cache[serial] = answer
        return answer

    def _record(self, serial: str) -> CertificateRecord | None:
        with self.authority.database.transaction() as session:
            return session.execute(
                select(CertificateRecord).where(
                    CertificateRecord.issuer_id == self.issuer.id, CertificateRecord.serial == serial
                )
            ).scalar_one_or_none()


@dataclass(frozen=True)
class _ParsedRequest:
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


def _parse_request(request_der: bytes) -> _ParsedRequest | OcspAnswer:
    try:
        request = asn1_ocsp.OCSPRequest.load(request_der)
        tbs = request["tbs_request"]
        requests = tbs["request_list"]
        if len(requests) != 1:
            return OcspAnswer(MALFORMED_REQUEST)
        cert_id = requests[0]["req_cert"]
        return _ParsedRequest(
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
