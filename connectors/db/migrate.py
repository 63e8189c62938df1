"""Alembic driven from code: the only way the schema is created."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
#: PostgreSQL advisory lock key that serialises concurrent upgrades ("gpuhmigr" in ASCII);
#: distinct from the scheduler's leader lock (``connectors.scheduler.LOCK_KEY``, "gpuhours").
MIGRATION_LOCK_KEY = 0x6770_7568_6D69_6772


#: APScheduler's job table: created and owned by the scheduler (``connectors/scheduler_runtime``),
#: so the migrations neither create nor drop it.
JOBS_TABLE = "scheduler_jobs"


def not_scheduler_table(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic ``include_name`` filter: APScheduler's job table is not part of our schema."""
    return not (type_ == "table" and name == JOBS_TABLE)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` in one transaction.

    On PostgreSQL the transaction first takes an advisory lock (``MIGRATION_LOCK_KEY``,
    released at commit or rollback): replicas that start at once on a new database upgrade
    one after the other, and the later ones find the schema at head and do nothing. SQLite
    has a single writer anyway.
    """
    config = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def at_head(engine: Engine) -> bool:
    return current_revision(engine) == head_revision(engine)
