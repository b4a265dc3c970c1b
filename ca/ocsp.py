"""OCSP responder: RFC 6960 with the RFC 5019 lightweight profile, built with asn1crypto.

Every certificate of every issuing CA (the one that issues now and those rolled over, ca.ocsp_issuers) has
a response pre-signed by its issuer's delegated OCSP signer (key in the HSM) at issuance and at revocation,
kept in the database and in a bounded cache in each process's memory, so that an ordinary request costs a
dictionary look-up and no HSM operation. Responses live four days and are re-signed from their half-life
on (:mod:`ca.ocsp_refresh`); expired certificates are left out of the refresh (ArchiveCutoff still answers
for them, signed on request). A response missing for any reason (an HSM outage at issuance) is signed at
its first request, and the refresh's sweep finds it meanwhile.

Requests that need a fresh signature (a nonce, RFC 8954; a SHA-256 CertID; a serial we never issued) are
rate-limited per client so anonymous traffic cannot exhaust the HSM. A revocation deletes the serial's
stored answer in its own transaction, re-signs it after the commit and records the change; every process
polls those changes and drops its copy, so the new status is served everywhere within a second. Each
response carries ArchiveCutoff = its CA's notBefore. A request is answered for the issuer its CertID's
hashes name; the issuers are read again with the hierarchy (ca.hierarchy), so a rollover made elsewhere
reaches every process within a minute.
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
from sqlalchemy import Select, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ca.authority import Authority
from ca.errors import CaError
from ca.ocsp_issuers import OcspIssuer, OcspIssuers, OcspSigners
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
        OcspResponder(authority).presign([record])
    except (CaError, SQLAlchemyError) as error:
        log.info("OCSP response of %s not pre-signed (%s); signed on first request", record.serial, error)


CacheKey = tuple[int, str]  # issuer id, serial


class OcspResponder:
    """Answers OCSP requests for the certificates of every issuing CA of the authority."""

    def __init__(self, authority: Authority, *, fresh_signatures: RateLimiter | None = None) -> None:
        self.authority = authority
        self._issuers = OcspIssuers.of(authority.hierarchy())
        self._cache: OrderedDict[CacheKey, OcspAnswer] = OrderedDict()  # least recently used first
        self._request_serials: dict[bytes, CacheKey] = {}
        self._cache_lock = threading.Lock()
        self._last_change = self._newest_change_id()
        self._last_poll = time.monotonic()
        self.signers = OcspSigners(authority)
        self.fresh_signatures = fresh_signatures or RateLimiter(rate=20, burst=50)

    def issuers(self) -> OcspIssuers:
        """The issuers answered for, rebuilt when the authority has read its hierarchy again."""
        hierarchy = self.authority.hierarchy()
        if hierarchy is not self._issuers.hierarchy:
            self._issuers = OcspIssuers.of(hierarchy)
        return self._issuers

    def issuer(self, issuer_id: int) -> OcspIssuer:
        """The issuer of a certificate row (``issuer_id``), even one made since the hierarchy was read."""
        found = self.issuers().by_id.get(issuer_id)
        if found is None:
            found = OcspIssuer.of(self.authority.issuing_ca_by_id(issuer_id))
        return found

    def current_issuer(self) -> OcspIssuer:
        """The issuing CA that issues now, as an OCSP issuer."""
        return self.issuer(self.authority.issuing_ca().id)

    # -- building responses ---------------------------------------------------------------------------------

    def sign_response(
        self,
        issuer: OcspIssuer,
        cert_id: asn1_ocsp.CertId,
        record: CertificateRecord | None,
        *,
        nonce: bytes | None = None,
        now: dt.datetime | None = None,
    ) -> OcspAnswer:
        """Sign ``issuer``'s response for one CertID: good, revoked (with time and reason) or unknown
        (``record`` None)."""
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
                    {"extn_id": "archive_cutoff", "critical": False, "extn_value": issuer.archive_cutoff}
                ],
            }
        )
        signer = self.signers.of(issuer)
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

    def standard_response(self, record: CertificateRecord) -> OcspAnswer:
        """The response to a standard request (SHA-1 CertID, no nonce) for ``record``, signed now."""
        issuer = self.issuer(record.issuer_id)
        return self.sign_response(issuer, issuer.cert_id(int(record.serial, 16)), record)

    def presign(self, records: Iterable[CertificateRecord]) -> int:
        """Sign and store the standard response of each record; return how many were signed."""
        by_issuer: dict[int, list[CertificateRecord]] = {}
        for record in records:
            by_issuer.setdefault(record.issuer_id, []).append(record)
        for issuer_id, batch in by_issuer.items():
            self._store_all(issuer_id, [(record, self.standard_response(record)) for record in batch])
        return sum(len(batch) for batch in by_issuer.values())

    def resign_now(self, record: CertificateRecord) -> None:
        """Out-of-schedule re-signature after a revocation: stored, announced to every process, cached here."""
        self._store_all(record.issuer_id, [(record, self.standard_response(record))], announce=True)

    def _store_all(
        self,
        issuer_id: int,
        signed: Sequence[tuple[CertificateRecord, OcspAnswer]],
        *,
        announce: bool = False,
    ) -> None:
        """Store answers signed for certificates of ``issuer_id``."""
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
                .where(CertificateRecord.issuer_id == issuer_id, CertificateRecord.serial.in_(by_serial))
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
                        OcspResponse.issuer_id == issuer_id, OcspResponse.serial.in_(by_serial)
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
            self._remember((issuer_id, serial), answer)

    def _remember(self, key: CacheKey, answer: OcspAnswer) -> None:
        with self._cache_lock:
            self._cache[key] = answer
            self._cache.move_to_end(key)
            while len(self._cache) > CACHED_RESPONSES:
                self._cache.popitem(last=False)

    # -- answering ------------------------------------------------------------------------------------------------

    def poll_changes(self) -> None:
        """Drop cached responses that another process re-signed, and take up issuers a rollover added
        (called at least every 200 ms)."""
        self.issuers()
        with self.authority.database.transaction() as session:
            changes = session.execute(
                select(OcspChange.id, OcspChange.issuer_id, OcspChange.serial).where(
                    OcspChange.id > self._last_change
                )
            ).all()
        if changes:
            with self._cache_lock:
                for _, issuer_id, serial in changes:
                    self._cache.pop((issuer_id, serial), None)
            self._last_change = max(change_id for change_id, _, _ in changes)
        self._last_poll = time.monotonic()

    def _newest_change_id(self) -> int:
        with self.authority.database.transaction() as session:
            newest = session.execute(select(OcspChange.id).order_by(OcspChange.id.desc()).limit(1)).scalar()
        return int(newest or 0)

    def cached(self, issuer_id: int, serial: str) -> OcspAnswer | None:
        """The in-memory response for ``serial`` of ``issuer_id`` if it is fresh; never touches the database
        or the HSM.
        (Read without the lock: a dict look-up is atomic, and recency is refreshed only on a miss's
        store, so the cache drops the least recently *stored* answer, which is good enough and lock-free.)"""
        answer = self._cache.get((issuer_id, serial))
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
        issuer = self.issuers().find(parsed.algorithm, parsed.name_hash, parsed.key_hash)
        if issuer is None:
            return OcspAnswer(UNAUTHORIZED)  # RFC 6960 §2.3: we are not authoritative for that issuer
        if parsed.standard:
            answer = self.cached(issuer.id, parsed.serial) or self._from_database(issuer.id, parsed.serial)
            if answer is not None:
                return answer
        record = self._record(parsed.serial, issuer.id)
        if (not parsed.standard or record is None) and not self.fresh_signatures.allow(client):
            return OcspAnswer(TRY_LATER)
        answer = self.sign_response(issuer, parsed.cert_id, record, nonce=parsed.nonce)
        if record is not None and parsed.standard:
            self._store_all(issuer.id, [(record, answer)])
        return answer if parsed.nonce is None else OcspAnswer(answer.der)

    def respond_from_memory(self, request_der: bytes) -> OcspAnswer | None:
        """The answer if it needs neither the database nor the HSM (the fast path of the HTTP route).

        RFC 5019 clients send the same bytes for the same certificate every time, so the serial each
        standard request names is remembered by its bytes: a repeated request costs two dictionary
        look-ups instead of a DER parse, and still gets the current answer for that serial.
        """
        key = self._request_serials.get(request_der)
        if key is None:
            parsed = parse_request(request_der)
            if isinstance(parsed, OcspAnswer):
                return parsed
            issuer = self._issuers.find(parsed.algorithm, parsed.name_hash, parsed.key_hash)
            if not parsed.standard or issuer is None:
                return None
            key = (issuer.id, parsed.serial)
            if len(self._request_serials) >= REMEMBERED_REQUESTS:
                self._request_serials.clear()  # bounded: a flood of distinct requests cannot grow it
            self._request_serials[request_der] = key
        return self.cached(*key)

    def response_for_serial(self, serial: str) -> OcspAnswer:
        """The standard response for one of our serials (of any issuer): cached, stored, or signed and
        stored now; signed "unknown" by the issuing CA for a serial we never issued."""
        for issuer_id in self._issuers.by_id:
            answer = self.cached(issuer_id, serial)
            if answer is not None:
                return answer
        record = self._record(serial)
        if record is None:
            issuer = self.current_issuer()
            return self.sign_response(issuer, issuer.cert_id(int(serial, 16)), None)
        answer = self._from_database(record.issuer_id, serial)
        if answer is None:
            answer = self.standard_response(record)
            self._store_all(record.issuer_id, [(record, answer)])
        return answer

    def _from_database(self, issuer_id: int, serial: str) -> OcspAnswer | None:
        with self.authority.database.transaction() as session:
            stored = session.execute(stored_response(issuer_id, serial)).scalar_one_or_none()
        if stored is None or stored.next_update - utc_now() < REFRESH_MARGIN / 2:
            return None
        answer = OcspAnswer(stored.der, stored.this_update, stored.next_update)
        self._remember((issuer_id, serial), answer)
        return answer

    def _record(self, serial: str, issuer_id: int | None = None) -> CertificateRecord | None:
        """Certificate ``serial`` of ``issuer_id`` (of any issuer when None: serials are 128 random bits,
        so no two of our CAs share one in practice; the newest certificate wins if they ever do)."""
        query = select(CertificateRecord).where(CertificateRecord.serial == serial)
        if issuer_id is not None:
            query = query.where(CertificateRecord.issuer_id == issuer_id)
        with self.authority.database.transaction() as session:
            return session.execute(query.order_by(CertificateRecord.id.desc()).limit(1)).scalar_one_or_none()
