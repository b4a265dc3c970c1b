"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ca.store import Base
from govsign.access import accounts, administrators, approvals, console_auth, trust_anchors  # noqa: F401  (their tables)
from signing import batch_store  # noqa: F401
from tests.conftest import Deployment


def test_migrated_schema_matches_the_models(deployment: Deployment) -> None:
    with deployment.authority.database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], differences
