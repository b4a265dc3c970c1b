"""Revocation status and time-stamps for code running beside the CA, and their scheduled upkeep.

:class:`StatusServices` is what the HTTP faces and the signing service hold: the same OCSP responses, CRLs
and time-stamp tokens the /pki endpoints serve, without an HTTP round trip. :meth:`StatusServices.
run_maintenance` is called every few seconds by every server process; a database lease lets one of them
do the work: publish the CRL shards a revocation changed (ca.crl_shards), the full CRL when a revocation
awaits it (at most once a ``FULL_CRL_MIN_INTERVAL``) or the last one is an hour old, re-sign OCSP
responses before their nextUpdate, and renew the OCSP signer certificate a month before it expires. All of
it for every issuing CA in service (``Authority.serving_issuers``): after a rollover, the old CA's CRLs
and OCSP answers are kept up until its last certificate expires.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from asn1crypto import x509 as asn1_x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ca.activation.grants import forget_expired
from ca.authority import Authority, CaKey
from ca.crl import PublishedCrl, publish_crl
from ca.crl_shards import CrlCache, publish_due_shards
from ca.intents import resolve_stale_intents
from ca.issuance import GenerateServiceKey, complete_issuance, prepare_issuance, service_order
from ca.ocsp import OcspResponder
from ca.ocsp_refresh import OcspRefresher
from ca.profiles import CertificateKind
from ca.reasons import RevocationReason
from ca.revocation import revoke_certificate
from ca.store import CaRecord, CertificateRecord, CrlState, acquire_lease, utc_now
from ca.tsa import TimeStampAuthority

__all__ = ["MaintenanceReport", "StatusServices"]

CRL_REFRESH = dt.timedelta(hours=1)
# A million-entry full CRL takes seconds to build: rebuilt at most once a minute however many revocations
# come, while each revocation's shard (what the certificate's CDP names) follows within a round.
FULL_CRL_MIN_INTERVAL = dt.timedelta(minutes=1)
SIGNER_RENEWAL_MARGIN = dt.timedelta(days=30)
SIGNER_VALIDITY = dt.timedelta(days=365)
LEASE_SECONDS = 120


@dataclass
class MaintenanceReport:
    """What one maintenance round did (empty when another process holds the lease)."""

    ran: bool = False
    crl_number: int | None = None  # of the last full CRL published (of any issuer)
    crl_shards: list[int] = field(default_factory=list)  # the shards whose CRL was published
    ocsp_signed: int = 0
    signer_renewed: str | None = None  # the serial of the last OCSP signer renewed
    grants_forgotten: int = 0  # expired SADs whose wrapped keys were deleted
    intents_resolved: int = 0  # issuance intents a crash left, completed or abandoned
    notes: list[str] = field(default_factory=list)


class StatusServices:
    """OCSP, CRL, TSA and revocation for one Authority, shared by everything in the process."""

    def __init__(
        self, authority: Authority, *, signer_renewal_margin: dt.timedelta = SIGNER_RENEWAL_MARGIN
    ) -> None:
        self.authority = authority
        self.ocsp = OcspResponder(authority)
        self.ocsp_refresh = OcspRefresher(self.ocsp)
        self.tsa = TimeStampAuthority(authority)
        self.crl_cache = CrlCache(authority)
        self.signer_renewal_margin = signer_renewal_margin

    def crl(self, ca_name: str, shard: int | None = None) -> PublishedCrl | None:
        """The newest full CRL of ``ca_name``, or of its ``shard``, from this process's memory when fresh."""
        return self.crl_cache.get(ca_name, shard)

    def publish_crl(self, issuer: CaKey, *, actor: str) -> PublishedCrl:
        """Build and publish the next full CRL of ``issuer`` now."""
        return publish_crl(self.authority.database, issuer, audit_token=self.authority.token, actor=actor)

    def crls_for(self, serials: Iterable[str]) -> list[bytes]:
        """The CRLs that prove the status of our certificates ``serials`` and of their CAs, DER: the root's
        (it covers the issuing CAs) and, for each certificate, the CRL its CDP names: its shard's, or its
        CA's full CRL when it names that or its shard has no CRL yet. A B-LT document embeds these, so at a
        million revocations it carries shards of ~400 KB, not the 50 MB full CRL."""
        wanted = list(serials)
        with self.authority.database.reading() as session:
            roots = session.execute(select(CaRecord.name).where(CaRecord.kind == "root-ca")).scalars()
            named: list[tuple[str, int | None]] = [(root, None) for root in roots]
            named += [
                (name, shard)
                for name, shard in session.execute(
                    select(CaRecord.name, CertificateRecord.crl_shard)
                    .join(CaRecord, CaRecord.id == CertificateRecord.issuer_id)
                    .where(CertificateRecord.serial.in_(wanted))
                )
            ]
        published = (self.crl(name, shard) or self.crl(name) for name, shard in dict.fromkeys(named))
        return [crl.der for crl in published if crl is not None]

    def tsa_certificate(self) -> asn1_x509.Certificate:
        """The certificate the TSA signs time-stamp tokens with now."""
        return self.tsa.key().certificate

    def timestamp_response(self, request_der: bytes) -> bytes:
        """An RFC 3161 TimeStampResp for a DER TimeStampReq, as POST /pki/tsa answers it."""
        return self.tsa.respond(request_der)

    def ocsp_response(self, serial: str) -> bytes:
        """The current DER OCSP response for one of our serials (pre-signed when there is one)."""
        return self.ocsp.response_for_serial(serial).der

    def timestamp(self, digest: bytes, hash_algorithm: str = "sha256", nonce: int | None = None) -> bytes:
        """An RFC 3161 TimeStampToken over ``digest``."""
        return self.tsa.timestamp(digest, hash_algorithm, nonce=nonce)

    def revoke(
        self, serial: str, reason: RevocationReason, *, actor: str, invalidity_date: dt.datetime | None = None
    ) -> CertificateRecord:
        return revoke_certificate(
            self.authority, serial, reason, actor=actor, invalidity_date=invalidity_date, responder=self.ocsp
        )

    def run_maintenance(self, holder: str) -> MaintenanceReport:
        """One round of upkeep, if this process holds the maintenance lease."""
        report = MaintenanceReport()
        try:
            with self.authority.database.transaction() as session:
                if not acquire_lease(session, "status-maintenance", holder, LEASE_SECONDS):
                    return report
        except IntegrityError:
            return report  # another process created the lease row at the same moment
        report.ran = True
        report.crl_shards = publish_due_shards(self.authority, actor=f"scheduler:{holder}")
        issuers = self.authority.serving_issuers()
        for issuer in filter(self._crl_due, issuers):
            report.crl_number = self.publish_crl(issuer, actor=f"scheduler:{holder}").number
        report.ocsp_signed = self.ocsp_refresh.refresh_due()
        report.grants_forgotten = forget_expired(self.authority.database)
        report.intents_resolved = len(resolve_stale_intents(self.authority, actor=f"scheduler:{holder}"))
        for issuer in issuers:
            report.signer_renewed = self._renew_signer_if_due(issuer) or report.signer_renewed
        return report

    def _crl_due(self, issuer: CaKey) -> bool:
        with self.authority.database.transaction() as session:
            published = session.execute(  # the times only: the CRL itself may be 50 MB
                select(CrlState.this_update, CrlState.dirty_since).where(
                    CrlState.ca_id == issuer.id, CrlState.der.is_not(None)
                )
            ).one_or_none()
        if published is None:
            return True
        this_update, dirty_since = published
        if this_update is None:
            return True
        age = utc_now() - this_update
        return (dirty_since is not None and age >= FULL_CRL_MIN_INTERVAL) or age >= CRL_REFRESH

    def _renew_signer_if_due(self, issuer: CaKey) -> str | None:
        """A new OCSP signer for ``issuer`` (new key) a month before its current one expires; both stay
        valid meanwhile."""
        current = self.ocsp.signers.of(self.ocsp.issuer(issuer.id))
        renewed_until = min(utc_now() + SIGNER_VALIDITY, issuer.certificate.not_valid_after_utc)
        if current.not_after - utc_now() > self.signer_renewal_margin or renewed_until <= current.not_after:
            return None  # not due, or a CA in its last month, whose signer already lives as long as it does
        common_name = current.certificate.subject.native.get("common_name", "govsign OCSP responder")
        order = service_order(
            self.authority,
            CertificateKind.OCSP_SIGNER,
            str(common_name),
            renewed_until,
            issuer,
            request_ref="AUTOMATIC-RENEWAL",
        )
        prepared = prepare_issuance(
            self.authority, order, GenerateServiceKey(current.algorithm), actor="scheduler"
        )
        issued = complete_issuance(self.authority, prepared, actor="scheduler")
        self.ocsp.signers.forget()
        return issued.serial_hex
