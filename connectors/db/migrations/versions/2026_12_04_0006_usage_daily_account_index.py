"""usage_daily: index by account and day (a researcher's burn rates)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 00:06:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_daily_account_day", ["cluster", "account", "day"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_daily_account_day")
