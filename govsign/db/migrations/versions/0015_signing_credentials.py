"""Signature activation module: subscriber keys wrapped and sealed, and the grants (SAD) that open them

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-01 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_key_der", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=True),
        sa.Column("seal", sa.String(length=16), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destroyed_reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
    )
    op.create_table(
        "activation_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sad_sha256", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("hash_algorithm", sa.String(length=8), nullable=False),
        sa.Column("hashes", sa.Text(), nullable=False),
        sa.Column("used_hashes", sa.Text(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("key_under_sad", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["credential_id"], ["signing_credentials.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sad_sha256"),
    )
    op.create_index("ix_activation_grants_credential_id", "activation_grants", ["credential_id"])
    op.create_index("ix_activation_grants_expires_at", "activation_grants", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_activation_grants_expires_at", table_name="activation_grants")
    op.drop_index("ix_activation_grants_credential_id", table_name="activation_grants")
    op.drop_table("activation_grants")
    op.drop_table("signing_credentials")
