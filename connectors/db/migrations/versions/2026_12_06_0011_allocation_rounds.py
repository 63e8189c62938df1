"""allocation_rounds: rounds of a period over pools, their chairs' weights, their requests'
minimums, the administrators' edits and the lines as approved

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connectors.db.tables

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROUND = "allocation_rounds"


def _round_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["round_id"], [f"{_ROUND}.id"], name=op.f(f"fk_{table}_round_id_{_ROUND}"))


def _request_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["request_id"],
        ["allocation_requests.id"],
        name=op.f(f"fk_{table}_request_id_allocation_requests"),
    )


def upgrade() -> None:
    when = connectors.db.tables.UTCDateTime(timezone=True)
    op.create_table(
        _ROUND,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("deadline", when, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_at", when, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", when, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_rounds")),
    )
    op.create_index(op.f("ix_allocation_rounds_period"), _ROUND, ["period"], unique=False)
    table = "allocation_round_pools"
    op.create_table(
        table,
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.String(length=64), nullable=False),
        _round_fk(table),
        sa.ForeignKeyConstraint(["pool_id"], ["pools.id"], name=op.f(f"fk_{table}_pool_id_pools")),
        sa.PrimaryKeyConstraint("round_id", "pool_id", name=op.f(f"pk_{table}")),
    )
    table = "allocation_round_weights"
    op.create_table(
        table,
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("chair_id", sa.String(length=64), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        _round_fk(table),
        sa.ForeignKeyConstraint(
            ["chair_id"], ["chairs.id"], name=op.f(f"fk_{table}_chair_id_chairs")
        ),
        sa.PrimaryKeyConstraint("round_id", "chair_id", name=op.f(f"pk_{table}")),
    )
    table = "allocation_round_minimums"
    op.create_table(
        table,
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _round_fk(table),
        _request_fk(table),
        sa.PrimaryKeyConstraint("round_id", "request_id", name=op.f(f"pk_{table}")),
    )
    table = "allocation_round_edits"
    op.create_table(
        table,
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", when, nullable=False),
        _round_fk(table),
        _request_fk(table),
        sa.PrimaryKeyConstraint("round_id", "request_id", name=op.f(f"pk_{table}")),
    )
    table = "allocation_round_lines"
    op.create_table(
        table,
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("basis", sa.String(length=24), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("edited", sa.Boolean(), nullable=False),
        _round_fk(table),
        _request_fk(table),
        sa.PrimaryKeyConstraint("round_id", "request_id", name=op.f(f"pk_{table}")),
    )


def downgrade() -> None:
    for table in (
        "allocation_round_lines",
        "allocation_round_edits",
        "allocation_round_minimums",
        "allocation_round_weights",
        "allocation_round_pools",
    ):
        op.drop_table(table)
    op.drop_index(op.f("ix_allocation_rounds_period"), table_name=_ROUND)
    op.drop_table(_ROUND)
