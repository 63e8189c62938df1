"""Alembic is the only way the schema is made; models and migrations never drift."""

from __future__ import annotations

import multiprocessing
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.pool import NullPool

from connectors.db.engine import make_engine
from connectors.db.migrate import (
    MIGRATION_LOCK_KEY,
    at_head,
    current_revision,
    head_revision,
    not_scheduler_table,
    upgrade,
)
from connectors.db.tables import Base
from connectors.scheduler import LOCK_KEY
from tests.conftest import NO_PG, PG_URL


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


def test_the_migration_lock_is_not_the_scheduler_lock() -> None:
    assert MIGRATION_LOCK_KEY != LOCK_KEY
    assert -(2**63) <= MIGRATION_LOCK_KEY < 2**63  # a PostgreSQL bigint


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database of its own (no schema at all), dropped afterwards."""
    server = make_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"gpuhours_migrate_{os.getpid()}_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


REPLICAS = 4


def _upgrade_as_a_replica(url: str, start: Any) -> None:
    """One replica's start (in a process of its own, as on a real deployment)."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        start.wait(timeout=60)
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason=NO_PG)
def test_concurrent_upgrades_of_a_new_database_serialise(empty_pg_url: str) -> None:
    """Replicas starting at once on a new PostgreSQL database: every upgrade succeeds (the
    advisory lock makes them wait for each other) and the schema ends at head.

    Processes, not threads: alembic's ``context`` and ``op`` are process-wide proxies."""
    engine = make_engine(empty_pg_url, poolclass=NullPool)
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(REPLICAS)
    try:
        assert current_revision(engine) is None  # nothing there yet
        replicas = [
            spawn.Process(target=_upgrade_as_a_replica, args=(empty_pg_url, start))
            for _ in range(REPLICAS)
        ]
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.join(timeout=120)
        # 0: the upgrade returned (a traceback of a failed one is in the captured stderr).
        assert [r.exitcode for r in replicas] == [0] * REPLICAS
        assert at_head(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
            # The lock is transaction-scoped: nobody holds it any more.
            held = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                )
            )
            assert held == 0
    finally:
        engine.dispose()
