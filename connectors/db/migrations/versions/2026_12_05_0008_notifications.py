"""notifications: the outbox (events, deliveries, attempts), preferences, crossings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connectors.db.tables

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = connectors.db.tables.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "notify_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("at", UTC(timezone=True), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=255), nullable=False),
        sa.Column("fanned_out", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_events")),
        sa.UniqueConstraint("key", name=op.f("uq_notify_events_key")),
    )
    op.create_index(
        op.f("ix_notify_events_fanned_out"), "notify_events", ["fanned_out"], unique=False
    )
    op.create_table(
        "notify_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("why", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTC(timezone=True), nullable=False),
        sa.Column("lease_until", UTC(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("sent_at", UTC(timezone=True), nullable=True),
        sa.Column("digest_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["notify_events.id"],
            name=op.f("fk_notify_deliveries_event_id_notify_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_deliveries")),
        sa.UniqueConstraint("key", name=op.f("uq_notify_deliveries_key")),
    )
    op.create_index(
        op.f("ix_notify_deliveries_event_id"), "notify_deliveries", ["event_id"], unique=False
    )
    op.create_index(
        op.f("ix_notify_deliveries_state"), "notify_deliveries", ["state"], unique=False
    )
    op.create_table(
        "notify_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC(timezone=True), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notify_deliveries.id"],
            name=op.f("fk_notify_attempts_delivery_id_notify_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_attempts")),
    )
    op.create_index(
        op.f("ix_notify_attempts_delivery_id"), "notify_attempts", ["delivery_id"], unique=False
    )
    op.create_table(
        "notify_preferences",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("username", "kind", "channel", name=op.f("pk_notify_preferences")),
    )
    op.create_table(
        "notify_profiles",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_notify_profiles")),
    )
    op.create_table(
        "notify_crossings",
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("crossed", sa.Boolean(), nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_notify_crossings")),
    )


def downgrade() -> None:
    op.drop_table("notify_crossings")
    op.drop_table("notify_profiles")
    op.drop_table("notify_preferences")
    op.drop_index(op.f("ix_notify_attempts_delivery_id"), table_name="notify_attempts")
    op.drop_table("notify_attempts")
    op.drop_index(op.f("ix_notify_deliveries_state"), table_name="notify_deliveries")
    op.drop_index(op.f("ix_notify_deliveries_event_id"), table_name="notify_deliveries")
    op.drop_table("notify_deliveries")
    op.drop_index(op.f("ix_notify_events_fanned_out"), table_name="notify_events")
    op.drop_table("notify_events")
