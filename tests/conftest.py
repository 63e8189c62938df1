"""Shared fixtures: a fixed clock, and one database fixture run on SQLite and PostgreSQL.

PostgreSQL tests run when ``GPUHOURS_TEST_DATABASE_URL`` is set (``.ci/run`` sets it); without
it they are reported as skipped, with that reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from connectors.db.engine import make_engine
from connectors.db.migrate import upgrade
from connectors.db.tables import Base

PG_URL = os.environ.get("GPUHOURS_TEST_DATABASE_URL", "")
NO_PG = "PostgreSQL not configured: set GPUHOURS_TEST_DATABASE_URL (see README) to run this test"

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``bash deploy/dev.sh test`` runs two workers), the tests that share
    one live Slurm rig run on one worker, in order: they share its batch of jobs and its
    association tree. Each rig is its own group, so the two rigs' waits overlap."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if not isinstance(item, pytest.Function) or "rig" not in item.fixturenames:
            continue
        target = item.callspec.params.get("rig")
        name = target[0] if isinstance(target, tuple) else "shared"
        item.add_marker(pytest.mark.xdist_group(f"slurm-{name}"))


@pytest.fixture(autouse=True)
def _no_cli_login(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's ``gpuhours login`` nor a server from the environment: the
    CLI would send its commands there instead of to the test's database."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.delenv("GPUHOURS_SERVER", raising=False)
    monkeypatch.delenv("GPUHOURS_TOKEN", raising=False)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def backends() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgres",
            id="postgres",
            marks=[pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason=NO_PG)],
        ),
    ]


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_engine() -> Iterator[Engine]:
    """A database of its own for this test session, created on the configured server.

    Concurrent test runs against one server never see each other's data; the database is
    dropped at the end.
    """
    server = make_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"gpuhours_test_{os.getpid()}_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(
        server.url.set(database=name).render_as_string(False), pool_size=60, max_overflow=10
    )
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def _truncate_pg(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=backends())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "gpuhours.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("_pg_engine")
        _truncate_pg(eng)
        yield eng


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Debian Chromium for the whole run (tests/web, tests/identity): Playwright's sync
    API allows one running instance per thread."""
    from tests.api.test_docs_in_a_browser import ARGS, CHROMIUM, _missing

    if not CHROMIUM.exists():
        _missing("no Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()
