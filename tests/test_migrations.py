"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from govsign.db.schema import schema
from tests.conftest import Deployment


def test_migrated_schema_matches_the_models(deployment: Deployment) -> None:
    with deployment.authority.database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), schema())
    assert differences == [], differences
