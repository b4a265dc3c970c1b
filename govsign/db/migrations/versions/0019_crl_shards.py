"""Partitioned CRLs: each certificate's shard, each shard's newest CRL, and the indexes of the hot paths

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 13:00:00

Issue 14, items 2 and 6. A certificate issued from now on names the CRL of its shard in its CDP
(``certificates.crl_shard``); those issued before keep the full CRL's URL, so their column stays NULL.
``crl_shards`` holds each shard's newest CRL. The indexes serve the CRL queries (an issuer's revoked,
unexpired certificates, all or one shard's) and the search for unfinished, stale issuance intents; the
serial per issuer and the expiry already have theirs (``uq_certificate_serial_per_issuer``,
``ix_certificates_not_after``).

(Revises 0017, main's head when this was written; migration 0018 is being added on another branch and the
chain is fixed when both are merged.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("certificates") as table:
        table.add_column(sa.Column("crl_shard", sa.Integer(), nullable=True))
    op.create_index(
        "ix_certificates_issuer_status_expiry", "certificates", ["issuer_id", "status", "not_after"]
    )
    op.create_index(
        "ix_certificates_issuer_shard_status",
        "certificates",
        ["issuer_id", "crl_shard", "status", "not_after"],
    )
    op.create_index("ix_issuance_intents_state_updated", "issuance_intents", ["state", "updated_at"])
    op.create_table(
        "crl_shards",
        sa.Column("ca_id", sa.Integer(), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=True),
        sa.Column("der", sa.LargeBinary(), nullable=True),
        sa.Column("dirty_since", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ca_id"], ["cas.id"]),
        sa.PrimaryKeyConstraint("ca_id", "shard"),
    )


def downgrade() -> None:
    op.drop_table("crl_shards")
    op.drop_index("ix_issuance_intents_state_updated", table_name="issuance_intents")
    op.drop_index("ix_certificates_issuer_shard_status", table_name="certificates")
    op.drop_index("ix_certificates_issuer_status_expiry", table_name="certificates")
    with op.batch_alter_table("certificates") as table:
        table.drop_column("crl_shard")
