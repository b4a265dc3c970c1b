"""administrators: the OS user the CLI runs as, so a command typed on the server names a known person

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("administrators", sa.Column("os_user", sa.String(length=32), nullable=True))
    op.create_index("ix_administrators_os_user", "administrators", ["os_user"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_administrators_os_user", table_name="administrators")
    with op.batch_alter_table("administrators") as batch:
        batch.drop_column("os_user")
