"""Accounts keep no PIN: the activation PIN seals the holder's key in the signature activation module

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 07:00:00

An argon2 hash beside the account let the service check a PIN in front of a key it could use without
one; the PIN now opens the key itself (docs/SOLE-CONTROL.md). Keys made before have to be re-keyed by
`govsign keys migrate`, whose holders choose a new PIN with a new set-up code.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.drop_column("pin_hash")
        table.drop_column("failed_pins")
        table.drop_column("locked_at")


def downgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.add_column(sa.Column("pin_hash", sa.String(length=160), nullable=True))
        table.add_column(sa.Column("failed_pins", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True))
