"""How fresh the published status information is: read cheaply at scrape time for monitoring.

OCSP responses are re-signed from their half-life on (:data:`ca.ocsp.REFRESH_MARGIN`), so a response past
it is refresh backlog, and the oldest stored response tells whether the refresh keeps up at all; both
reads walk the ``next_update`` index (a range count and one row), never the whole table. A CRL's age is
the time since its thisUpdate: the full CRL's per CA, and that of the CA's oldest shard (ca.crl_shards
republishes each within ``SHARD_REFRESH``, so an oldest shard past it says the scheduler is behind).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Row, func, select

from ca.ocsp import REFRESH_MARGIN
from ca.store import CaRecord, CrlShard, CrlState, Database, OcspResponse

__all__ = ["StatusFreshness", "status_freshness"]


@dataclass(frozen=True)
class StatusFreshness:
    """Ages in seconds at one instant; ``oldest_ocsp_age`` is None while no response is stored."""

    oldest_ocsp_age: float | None
    ocsp_past_half_life: int
    crl_ages: dict[str, float]  # the full CRL's, by CA name, for the CAs that have published one
    oldest_shard_ages: dict[str, float]  # by CA name, for the CAs that have published a shard


def status_freshness(database: Database, now: dt.datetime) -> StatusFreshness:
    """Read the freshness of OCSP responses and CRLs as of ``now`` (timezone-aware UTC)."""
    with database.transaction() as session:
        oldest = session.execute(
            select(OcspResponse.this_update).order_by(OcspResponse.next_update).limit(1)
        ).scalar_one_or_none()
        backlog = session.execute(
            select(func.count())
            .select_from(OcspResponse)
            .where(OcspResponse.next_update < now + REFRESH_MARGIN)
        ).scalar_one()
        published = session.execute(
            select(CaRecord.name, CrlState.this_update)
            .join(CrlState, CrlState.ca_id == CaRecord.id)
            .where(CrlState.this_update.is_not(None))
        ).all()
        oldest_shards = session.execute(
            select(CaRecord.name, func.min(CrlShard.this_update))
            .join(CrlShard, CrlShard.ca_id == CaRecord.id)
            .group_by(CaRecord.name)
        ).all()
    return StatusFreshness(
        oldest_ocsp_age=None if oldest is None else (now - oldest).total_seconds(),
        ocsp_past_half_life=int(backlog),
        crl_ages=_ages(now, published),
        oldest_shard_ages=_ages(now, oldest_shards),
    )


def _ages(now: dt.datetime, published: Sequence[Row[str, dt.datetime | None]]) -> dict[str, float]:
    return {name: (now - this_update).total_seconds() for name, this_update in published if this_update}
