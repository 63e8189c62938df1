"""site calendar: the time zone and period scheme the data was booked with

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connectors.db.tables


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows are written by connectors.db.site at the first start after this revision: data
    # stored before it was booked in UTC, the only zone there was.
    op.create_table('site_settings',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('set_at', connectors.db.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_site_settings'))
    )


def downgrade() -> None:
    op.drop_table('site_settings')
