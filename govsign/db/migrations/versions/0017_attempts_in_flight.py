"""Activation attempts being judged are counted apart from wrong ones

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 08:30:00

A credential took one attempt from its five before each (slow) PIN check, so that parallel guesses could
not overtake the lock; but the holder's own parallel requests then locked it too. Attempts in flight are
now counted apart: with the failures they never exceed five, and a success gives its place back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signing_credentials") as table:
        table.add_column(sa.Column("attempts_in_flight", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("signing_credentials") as table:
        table.drop_column("attempts_in_flight")
