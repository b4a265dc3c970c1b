"""OCSP responder: RFC 6960 with the RFC 5019 lightweight profile, built with asn1crypto.

Every certificate of the issuing CA has a response pre-signed by the delegated OCSP signer (key in the HSM)
at issuance and at revocation, kept in the database and in a bounded cache in each process's memory, so
that an ordinary request costs a dictionary look-up and no HSM operation. Responses live four days and are
re-signed from their half-life on (:mod:`ca.ocsp_refresh`); expired certificates are left out of the
refresh (ArchiveCutoff still answers for them, signed on request). A response missing for any reason (an
HSM outage at issuance) is signed at its first request, and the refresh's sweep finds it meanwhile.

Requests that need a fresh signature (a nonce, RFC 8954; a SHA-256 CertID; a serial we never issued) are
rate-limited per client so anonymous traffic cannot exhaust the HSM. A revocation deletes the serial's
stored answer in its own transaction, re-signs it after the commit and records the change; every process
polls those changes and drops its copy, so the new status is served everywhere within a second. Each
response carries ArchiveCutoff = the CA's notBefore.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from asn1crypto import core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Select, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ca.authority import Authority, CaKey, ServiceKey, newest_service_key
from ca.errors import CaError
from ca.ocsp_messages import MALFORMED_REQUEST, TRY_LATER, UNAUTHORIZED, OcspAnswer, parse_request
from ca.rate_limit import RateLimiter
from ca.reasons import RevocationReason
from ca.store import CertificateRecord, OcspChange, OcspResponse, utc_now

__all__ = [
    "MALFORMED_REQUEST",
    "REFRESH_MARGIN",
    "OcspAnswer",
    "OcspResponder",
    "RateLimiter",
    "forget_response",
    "presign_new",
    "stored_response",
]

log = logging.getLogger("govsign.ocsp")
RESPONSE_VALIDITY = dt.timedelta(days=4)
REFRESH_MARGIN = RESPONSE_VALIDITY / 2  # re-sign from the half-life on (as Let's Encrypt did)
REMEMBERED_REQUESTS = 100_000  # distinct standard OCSP requests remembered by their bytes
CACHED_RESPONSES = 50_000  # ~1.4 KB each: ~70 MB per process at most, whatever the number of certificates
SIGNER_RELOAD_SECONDS = 3600
_SIGNATURE_OIDS = {"rsa-pkcs1v15": "sha256_rsa", "ecdsa": "sha256_ecdsa"}


def stored_response(issuer_id: int, serial: str) -> Select[OcspResponse]:
    """Every OCSP request's look-up: the stored answer of one serial (the unique (issuer, serial) index)."""
    return select(OcspResponse).where(OcspResponse.issuer_id == issuer_id, OcspResponse.serial == serial)


def forget_response(session: Session, record: CertificateRecord) -> None:
    """In the revocation's own transaction: the stored "good" goes and every process is told to drop its
    copy, so that if re-signing after the commit fails (an HSM outage), no process serves "good" on: the
    next request signs the revoked answer on demand."""
    session.execute(
        delete(OcspResponse).where(
            OcspResponse.issuer_id == record.issuer_id, OcspResponse.serial == record.serial
        )
    )
    session.add(OcspChange(issuer_id=record.issuer_id, serial=record.serial))


def presign_new(authority: Authority, record: CertificateRecord) -> None:
    """A new certificate's response, signed at issuance so that the refresh need not look for it. Best
    effort: the certificate is issued whatever happens here, and a missing response is signed at its first
    request or found by the refresh's sweep."""
    try:
        if record.issuer_id == authority.issuing_ca().id:
            OcspResponder(authority).presign([record])
    except (CaError, SQLAlchemyError) as error:
        log.info("OCSP response of %s not pre-signed (%s); signed on first request", record.serial, error)


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
        self._cache: OrderedDict[str, OcspAnswer] = OrderedDict()  # least recently used first
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
        batch = list(records)
        answers = [self.sign_response(self.cert_id(int(record.serial, 16)), record) for record in batch]
        self._store_all(list(zip(batch, answers, strict=True)))
        return len(answers)

    def resign_now(self, record: CertificateRecord) -> None:
        """Out-of-schedule re-signature after a revocation: stored, announced to every process, cached here."""
        answer = self.sign_response(self.cert_id(int(record.serial, 16)), record)
        self._store_all([(record, answer)], announce=True)

    def _store_all(
        self, signed: Sequence[tuple[CertificateRecord, OcspAnswer]], *, announce: bool = False
    ) -> None:
        if not signed:
            return
        by_serial = {record.serial: (record, answer) for record, answer in signed}
        with self.authority.database.transaction() as session:
            # The rows the answers were signed from may be stale: a revocation committed while they were
            # signed (a refresh chunk takes seconds) must not be overwritten by the "good" signed before
            # it. Locked as the revocation locks its row, so neither commits between this check and the store.
            now_known = session.execute(
                select(
                    CertificateRecord.serial, CertificateRecord.status, CertificateRecord.revocation_reason
                )
                .where(CertificateRecord.issuer_id == self.issuer.id, CertificateRecord.serial.in_(by_serial))
                .order_by(CertificateRecord.id)
                .with_for_update()
            ).all()
            current = {serial: (status, reason) for serial, status, reason in now_known}
            by_serial = {
                serial: (record, answer)
                for serial, (record, answer) in by_serial.items()
                if current.get(serial) == (record.status, record.revocation_reason)
            }
            stored = {
                row.serial: row
                for row in session.execute(
                    select(OcspResponse).where(
                        OcspResponse.issuer_id == self.issuer.id, OcspResponse.serial.in_(by_serial)
                    )
                ).scalars()
            }
            for serial, (record, answer) in by_serial.items():
                assert answer.this_update is not None and answer.next_update is not None
                row = stored.get(serial)
                if row is None:
                    row = OcspResponse(issuer_id=record.issuer_id, serial=serial)
                    session.add(row)
                row.status, row.der = record.status, answer.der
                row.this_update, row.next_update = answer.this_update, answer.next_update
                if announce:
                    session.add(OcspChange(issuer_id=record.issuer_id, serial=serial))
        for serial, (_, answer) in by_serial.items():
            self._remember(serial, answer)

    def _remember(self, serial: str, answer: OcspAnswer) -> None:
        with self._cache_lock:
            self._cache[serial] = answer
            self._cache.move_to_end(serial)
            while len(self._cache) > CACHED_RESPONSES:
                self._cache.popitem(last=False)

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
        """The in-memory response for ``serial`` if it is fresh; never touches the database or the HSM.
        (Read without the lock: a dict look-up is atomic, and recency is refreshed only on a miss's
        store, so the cache drops the least recently *stored* answer, which is good enough and lock-free.)"""
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
        parsed = parse_request(request_der)
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
            self._store_all([(record, answer)])
        return answer if parsed.nonce is None else OcspAnswer(answer.der)

    def respond_from_memory(self, request_der: bytes) -> OcspAnswer | None:
        """The answer if it needs neither the database nor the HSM (the fast path of the HTTP route).

        RFC 5019 clients send the same bytes for the same certificate every time, so the serial each
        standard request names is remembered by its bytes: a repeated request costs two dictionary
        look-ups instead of a DER parse, and still gets the current answer for that serial.
        """
        serial = self._request_serials.get(request_der)
        if serial is None:
            parsed = parse_request(request_der)
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
            self._store_all([(record, answer)])
        return answer

    def forget_signer(self) -> None:
        """Load the signer certificate again on next use (after a renewal)."""
        self._signer = None

    def _from_database(self, serial: str) -> OcspAnswer | None:
        with self.authority.database.transaction() as session:
            stored = session.execute(stored_response(self.issuer.id, serial)).scalar_one_or_none()
        if stored is None or stored.next_update - utc_now() < REFRESH_MARGIN / 2:
            return None
        answer = OcspAnswer(stored.der, stored.this_update, stored.next_update)
        self._remember(serial, answer)
        return answer

    def _record(self, serial: str) -> CertificateRecord | None:
        with self.authority.database.transaction() as session:
            return session.execute(
                select(CertificateRecord).where(
                    CertificateRecord.issuer_id == self.issuer.id, CertificateRecord.serial == serial
                )
            ).scalar_one_or_none()
