"""The audit log is looked up by object

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 12:40:00

A certificate's page in the console shows its history: the entries about the certificate, its key and
its accounts, chosen by their object. At national scale the log holds hundreds of millions of entries,
so that lookup needs an index rather than a scan of the whole log on every page view.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_log_object", "audit_log", ["object"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_object", table_name="audit_log")
