"""identities: OpenID Connect identities (issuer, subject) linked to users, sign-ins under way,
deactivated users, and the provider of a portal session

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connectors.db.tables

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("eppn", sa.String(length=200), nullable=False),
        sa.Column("created_at", connectors.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "last_seen_at", connectors.db.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["username"],
            ["users.username"],
            name=op.f("fk_identities_username_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issuer", "subject", name=op.f("pk_identities")),
    )
    op.create_index(op.f("ix_identities_username"), "identities", ["username"], unique=False)
    op.create_table(
        "oidc_logins",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("verifier", sa.String(length=128), nullable=False),
        sa.Column("next", sa.String(length=500), nullable=False),
        sa.Column("created_at", connectors.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_oidc_logins")),
    )
    op.create_index(
        op.f("ix_oidc_logins_created_at"), "oidc_logins", ["created_at"], unique=False
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "deactivated_at", connectors.db.tables.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(
            sa.Column("provider", sa.String(length=32), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("provider")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deactivated_at")
    op.drop_index(op.f("ix_oidc_logins_created_at"), table_name="oidc_logins")
    op.drop_table("oidc_logins")
    op.drop_index(op.f("ix_identities_username"), table_name="identities")
    op.drop_table("identities")
