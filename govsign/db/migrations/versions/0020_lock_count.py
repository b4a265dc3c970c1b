"""How many times wrong PINs have locked a credential

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 14:00:00

An administrator's unlock reset the count of wrong PINs, so whoever may unlock (and reissue the holder's
API token) could guess five PINs a cycle without end. Locks are now counted; after the third, a credential
cannot be unlocked (the holder needs a new key).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signing_credentials") as table:
        table.add_column(sa.Column("lock_count", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("signing_credentials") as table:
        table.drop_column("lock_count")
