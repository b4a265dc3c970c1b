"""Every table govsign keeps, put together from the rooms that own them.

Each room declares its tables on a base of its own — ``ca.store.Base`` the CA's (and, for now, the
access room's), ``signing.batch_store.SigningBase`` the signing batches — so that a lower room knows
nothing of a higher one's tables. The migrations and the one-off ``create_all`` of a test need them all
in one :class:`~sqlalchemy.MetaData`: :func:`schema` is that one.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from ca.store import Base
from govsign.access import (  # noqa: F401  (their tables are on ca.store.Base once imported)
    accounts,
    administrators,
    approvals,
    console_auth,
    trust_anchors,
)
from signing.batch_store import SigningBase

__all__ = ["schema"]

_ROOMS: tuple[MetaData, ...] = (Base.metadata, SigningBase.metadata)


def schema() -> MetaData:
    """One MetaData with a copy of every room's tables: what Alembic compares the database with and what
    ``create_all`` builds a throwaway database from."""
    combined = MetaData()
    for room in _ROOMS:
        for table in room.sorted_tables:
            table.to_metadata(combined)
    return combined
