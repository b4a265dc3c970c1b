"""Keeping the pre-signed OCSP responses fresh at national scale (see :mod:`ca.ocsp`).

The maintenance lease holder re-signs, each round, the responses past their half-life, oldest first, in
chunks that are signed and then stored in one transaction, and looks at the next few thousand certificates
for one that has no response at all. Every query walks an index (``ocsp_responses.next_update``, the
certificates' primary key), so a round costs the same at a thousand certificates and at ten million; the
old single query (an outer join with OR) scanned every certificate every round. Every issuing CA in service
(ca.authority.Authority.serving_issuers: the one that issues now, and a rolled-over one until its last
certificate expires) has its responses refreshed, each by its own signer.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, and_, delete, select

from ca.ocsp import REFRESH_MARGIN, OcspResponder
from ca.store import CertificateRecord, OcspResponse, utc_now

__all__ = ["OcspRefresher", "due_responses"]

REFRESH_CHUNK = 200  # responses signed, then stored in one transaction
SWEEP_CHUNK = 2_000  # certificates looked at per round for a missing response


def due_responses(issuer_id: int, now: dt.datetime, count: int) -> Select[int, CertificateRecord]:
    """The refresh's hot query: the ``count`` stored answers of ``issuer_id`` nearest their nextUpdate
    among those past the half-life, with their certificates (walks the ``next_update`` index; tested by
    its plan in tests/test_hot_queries.py)."""
    return (
        select(OcspResponse.id, CertificateRecord)
        .join(
            CertificateRecord,
            and_(
                OcspResponse.issuer_id == CertificateRecord.issuer_id,
                OcspResponse.serial == CertificateRecord.serial,
            ),
        )
        .where(OcspResponse.issuer_id == issuer_id, OcspResponse.next_update < now + REFRESH_MARGIN)
        .order_by(OcspResponse.next_update)
        .limit(count)
    )


class OcspRefresher:
    """The refresh rounds of one responder; remembers where the sweep for missing responses stopped."""

    def __init__(self, responder: OcspResponder) -> None:
        self.responder = responder
        self.sweep_after = 0  # the certificate id the sweep goes on from

    def refresh_due(self, limit: int = 2_000) -> int:
        """Re-sign up to ``limit`` responses past their half-life, oldest first; drop those of expired
        certificates (ArchiveCutoff answers for them, signed on request); then look at the next
        certificates for one without a response. Return how many were signed."""
        signed = 0
        issuers = [issuer.id for issuer in self.responder.authority.serving_issuers()]
        for issuer_id in issuers:
            while signed < limit:
                due = self._due(issuer_id, min(REFRESH_CHUNK, limit - signed))
                if due is None:
                    break
                signed += self.responder.presign(due)
        return signed + self.responder.presign(self._missing(issuers))

    def _due(self, issuer_id: int, count: int) -> list[CertificateRecord] | None:
        """The next ``count`` certificates of ``issuer_id`` whose response is past its half-life, once the
        responses of expired ones among them are deleted; None when nothing is due."""
        now = utc_now()
        with self.responder.authority.database.transaction() as session:
            rows = session.execute(due_responses(issuer_id, now, count)).all()
            expired = [response_id for response_id, record in rows if record.not_after <= now]
            if expired:
                session.execute(delete(OcspResponse).where(OcspResponse.id.in_(expired)))
        if not rows:
            return None
        return [record for _, record in rows if record.not_after > now]

    def _missing(self, issuers: list[int]) -> list[CertificateRecord]:
        """The next ``SWEEP_CHUNK`` certificates (by id, from where the last round stopped, starting over at
        the end) of ``issuers`` that are not expired and have no stored response."""
        now = utc_now()
        with self.responder.authority.database.reading() as session:
            ids = list(
                session.execute(
                    select(CertificateRecord.id)
                    .where(CertificateRecord.id > self.sweep_after)
                    .order_by(CertificateRecord.id)
                    .limit(SWEEP_CHUNK)
                ).scalars()
            )
            self.sweep_after = ids[-1] if len(ids) == SWEEP_CHUNK else 0
            if not ids:
                return []
            return list(
                session.execute(
                    select(CertificateRecord)
                    .outerjoin(
                        OcspResponse,
                        and_(
                            OcspResponse.issuer_id == CertificateRecord.issuer_id,
                            OcspResponse.serial == CertificateRecord.serial,
                        ),
                    )
                    .where(
                        CertificateRecord.id.between(ids[0], ids[-1]),
                        CertificateRecord.issuer_id.in_(issuers),
                        CertificateRecord.not_after > now,
                        OcspResponse.id.is_(None),
                    )
                ).scalars()
            )
