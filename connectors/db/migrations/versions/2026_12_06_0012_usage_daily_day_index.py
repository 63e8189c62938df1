"""usage_daily: index by day covering what the burn windows read (/metrics)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 00:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ``connectors.db.tables.WINDOW_COLUMNS`` as of this revision.
WINDOW_COLUMNS = ["period", "pool_id", "cluster", "account", "late", "units"]


def upgrade() -> None:
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_daily_day", ["day"], unique=False, postgresql_include=WINDOW_COLUMNS
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_daily_day")
