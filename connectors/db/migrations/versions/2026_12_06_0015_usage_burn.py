"""usage_burn: the burn windows kept pre-aggregated per pool and Slurm account (/metrics)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_burn",
        sa.Column("pool_id", sa.String(length=64), nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("units_7d", sa.BigInteger(), nullable=False),
        sa.Column("units_30d", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pool_id", "cluster", "account", name=op.f("pk_usage_burn")),
    )
    state = op.create_table(
        "usage_burn_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_burn_state")),
    )
    # no day yet: the windows are summed from the daily rollup until an ingestion sums them
    op.bulk_insert(state, [{"id": 1, "day": None}])


def downgrade() -> None:
    op.drop_table("usage_burn_state")
    op.drop_table("usage_burn")
