"""Keeping the shards of a partitioned CRL published (ca.crl_partition), and serving every CRL from memory.

The maintenance lease holder publishes, each round, the shards that need it: a shard a revocation marked
dirty, a shard never published (a new deployment, or one upgraded from a single CRL), and a shard whose
CRL is ``SHARD_REFRESH`` old, well before its nextUpdate (7 days), ``STALE_PER_ROUND`` at a time. The
other shards are left alone: one revocation costs one small CRL, not a rebuild of the million entries of
the full one. Every issuing CA in service has its shards kept so (``Authority.serving_issuers``: a CA
rolled over keeps its CRLs, at its own URLs, until its last certificate expires).

Each server process keeps the CRLs it served in a :class:`CrlCache` (at most one per CA and shard, so its
size is the revoked list's, twice over) and asks the database whether a newer one exists at most every
``RECHECK_SECONDS``: a primary-key lookup of a number; the DER is read again only when it changed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from ca.authority import Authority, CaKey
from ca.crl import CrlScope, PublishedCrl, publish_crl, published_crl, published_shard
from ca.crl_partition import crl_partition
from ca.store import CaRecord, CrlShard, CrlState, utc_now

__all__ = [
    "RECHECK_SECONDS",
    "SHARD_REFRESH",
    "STALE_PER_ROUND",
    "CrlCache",
    "IssuingCrls",
    "due_shards",
    "publish_due_shards",
    "publish_issuing_crls",
]

SHARD_REFRESH = dt.timedelta(days=1)
# Shards published together grow stale together: this many a round spreads their refresh over rounds, so
# that a round never spends minutes on schedule work while a revocation's shard waits behind it.
STALE_PER_ROUND = 16
RECHECK_SECONDS = 1.0


def due_shards(authority: Authority, issuer: CaKey) -> list[int]:
    """The shards of ``issuer``'s CRL that must be published now (see the module docstring)."""
    partition = crl_partition(authority.options, issuer.name)
    if partition is None:
        return []
    stale_before = utc_now() - SHARD_REFRESH
    with authority.database.reading() as session:
        rows = session.execute(
            select(
                CrlShard.shard, CrlShard.dirty_since, CrlShard.this_update, CrlShard.der.is_not(None)
            ).where(CrlShard.ca_id == issuer.id)
        ).all()
    published = {shard for shard, _, _, has_der in rows if has_der}
    changed = {shard for shard, dirty_since, _, has_der in rows if dirty_since is not None and has_der}
    stale = [
        shard
        for shard, _, this_update, has_der in rows
        if has_der and (this_update is None or this_update < stale_before)
    ]
    missing = [shard for shard in range(partition.shards) if shard not in published]
    return sorted(changed) + missing + sorted(set(stale) - changed)[:STALE_PER_ROUND]


def publish_due_shards(authority: Authority, *, actor: str) -> list[int]:
    """Publish every due shard of every issuing CA in service; return their numbers."""
    published = []
    for issuer in authority.serving_issuers():
        partition = crl_partition(authority.options, issuer.name)
        if partition is None:
            continue
        for shard in due_shards(authority, issuer):
            scope = CrlScope(shard, partition.url(shard))
            publish_crl(authority.database, issuer, audit_token=authority.token, actor=actor, scope=scope)
            published.append(shard)
    return published


@dataclass(frozen=True)
class IssuingCrls:
    """One publication of the issuing CAs' CRLs: the full CRL of the CA that issues now, those of older
    CAs still in service (after a rollover: name and CRL), and the shards that were due with them."""

    full: PublishedCrl
    older: tuple[tuple[str, PublishedCrl], ...]
    shards: tuple[int, ...]


def publish_issuing_crls(authority: Authority, *, actor: str) -> IssuingCrls:
    """Every issuing CA's due shards and full CRL, published now (``govsign ca crl``): an operator who
    will not wait for the scheduler after a revocation wants it in the CRL that relying parties fetch, the
    one its certificate's CDP names, whichever CA issued it; shards that are current are left alone, as
    the scheduler would."""
    shards = tuple(publish_due_shards(authority, actor=actor))
    *older, newest = authority.serving_issuers()
    published = [
        (issuer.name, publish_crl(authority.database, issuer, audit_token=authority.token, actor=actor))
        for issuer in (*older, newest)
    ]
    return IssuingCrls(published[-1][1], tuple(published[:-1]), shards)


@dataclass(frozen=True)
class _Held:
    crl: PublishedCrl
    checked_at: float


class CrlCache:
    """The CRLs this process serves, by CA name and shard (``None``: the full CRL)."""

    def __init__(self, authority: Authority, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self.authority = authority
        self.recheck_seconds = recheck_seconds
        self._held: dict[tuple[str, int | None], _Held] = {}
        self._lock = threading.Lock()

    def from_memory(self, ca_name: str, shard: int | None) -> PublishedCrl | None:
        """The CRL held for (``ca_name``, ``shard``) if it was checked less than ``recheck_seconds`` ago."""
        held = self._held.get((ca_name, shard))
        if held is None or time.monotonic() - held.checked_at >= self.recheck_seconds:
            return None
        return held.crl

    def get(self, ca_name: str, shard: int | None) -> PublishedCrl | None:
        """The newest published CRL of (``ca_name``, ``shard``), read from the database only when newer."""
        key = (ca_name, shard)
        held = self._held.get(key)
        if held is not None and self._number(ca_name, shard) == held.crl.number:
            crl = held.crl
        else:
            database = self.authority.database
            found = (
                published_crl(database, ca_name)
                if shard is None
                else published_shard(database, ca_name, shard)
            )
            if found is None:
                return None
            crl = found
        with self._lock:
            self._held[key] = _Held(crl, time.monotonic())
        return crl

    def _number(self, ca_name: str, shard: int | None) -> int | None:
        with self.authority.database.reading() as session:
            if shard is None:
                query = select(CrlState.number).join(CaRecord, CaRecord.id == CrlState.ca_id)
                return session.execute(query.where(CaRecord.name == ca_name)).scalar_one_or_none()
            query = select(CrlShard.number).join(CaRecord, CaRecord.id == CrlShard.ca_id)
            return session.execute(
                query.where(CaRecord.name == ca_name, CrlShard.shard == shard)
            ).scalar_one_or_none()
