"""API tokens expire: a date beside each token's hash (none for tokens made before)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("accounts", "administrators"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("accounts", "administrators"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("token_expires_at")
