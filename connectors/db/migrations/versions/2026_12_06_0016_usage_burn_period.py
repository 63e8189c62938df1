"""usage_burn: the units of the state's period per pool and Slurm account, with the windows

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_burn") as batch_op:
        batch_op.add_column(
            sa.Column("final_units", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("provisional_units", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("usage_burn_state") as batch_op:
        batch_op.add_column(sa.Column("period", sa.String(length=7), nullable=True))
    # summed again (with the period's units) by the next ingestion
    op.execute("UPDATE usage_burn_state SET day = NULL")


def downgrade() -> None:
    with op.batch_alter_table("usage_burn_state") as batch_op:
        batch_op.drop_column("period")
    with op.batch_alter_table("usage_burn") as batch_op:
        batch_op.drop_column("provisional_units")
        batch_op.drop_column("final_units")
