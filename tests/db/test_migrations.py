"""Alembic is the only way the schema is made; models and migrations never drift."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from connectors.db.migrate import at_head, current_revision, head_revision
from connectors.db.tables import Base
from connectors.scheduler import not_scheduler_table


def test_migrations_reach_head_on_an_empty_database(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)
    assert at_head(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_models_and_migrations_do_not_drift(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": not_scheduler_table}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
