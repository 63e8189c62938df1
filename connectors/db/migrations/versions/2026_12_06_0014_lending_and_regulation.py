"""lending_policies, lending_limits, pool_regulations: each chair's lending policy, each
project's lending and borrowing limits, each regulated pool's rule

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lending_policies",
        sa.Column("chair_id", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["chair_id"], ["chairs.id"], name=op.f("fk_lending_policies_chair_id_chairs")
        ),
        sa.PrimaryKeyConstraint("chair_id", name=op.f("pk_lending_policies")),
    )
    op.create_table(
        "lending_limits",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("lending_limit", sa.BigInteger(), nullable=True),
        sa.Column("borrowing_limit", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_lending_limits_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_lending_limits")),
    )
    op.create_table(
        "pool_regulations",
        sa.Column("pool_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=8), nullable=False),
        sa.Column("destination", sa.String(length=8), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=True)
            for name in (
                "after_months",
                "threshold_milli",
                "reclaim_milli",
                "check_day",
                "late_days",
                "deduct_days",
            )
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"], name=op.f("fk_pool_regulations_pool_id_pools")
        ),
        sa.PrimaryKeyConstraint("pool_id", name=op.f("pk_pool_regulations")),
    )


def downgrade() -> None:
    op.drop_table("pool_regulations")
    op.drop_table("lending_limits")
    op.drop_table("lending_policies")
