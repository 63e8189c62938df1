"""token lifecycle: expiry, last use, who minted and who revoked

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 10:00:00

Tokens minted before this revision keep ``expires_at`` NULL (no expiry): ``gpuhours token
list`` shows them, and an administrator revokes them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connectors.db.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("expires_at", "last_used_at", "created_by", "revoked_by")


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(
            sa.Column("expires_at", connectors.db.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("last_used_at", connectors.db.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("created_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("revoked_by", sa.String(length=64), nullable=True))
    op.create_index(
        op.f("ix_api_tokens_username"), "api_tokens", ["username"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_api_tokens_username"), table_name="api_tokens")
    with op.batch_alter_table("api_tokens") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
