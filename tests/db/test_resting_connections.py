"""PostgreSQL connections: one that rested in the pool is checked before use and replaced if
the server closed it; one back within seconds goes straight to work (no extra round trip)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from connectors.db.engine import make_engine
from tests.conftest import NO_PG, PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason=NO_PG)


class CountedPings:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.ping = engine.dialect.do_ping
        engine.dialect.do_ping = self  # type: ignore[assignment]

    def __call__(self, dbapi: Any) -> bool:
        self.count += 1
        return bool(self.ping(dbapi))


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def pool(engines: list[Engine], ping_after_idle: float) -> Engine:
    engine = make_engine(PG_URL, ping_after_idle=ping_after_idle)
    engines.append(engine)
    return engine


def backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT pg_backend_pid()")))


def test_a_connection_back_within_seconds_is_not_pinged(engines: list[Engine]) -> None:
    engine = pool(engines, ping_after_idle=60)
    pings = CountedPings(engine)
    pids = {backend(engine) for _ in range(5)}
    assert len(pids) == 1  # the same pooled connection each time
    assert pings.count == 0


def test_a_connection_that_rested_is_pinged(engines: list[Engine]) -> None:
    engine = pool(engines, ping_after_idle=0)
    pings = CountedPings(engine)
    for _ in range(5):
        backend(engine)
    assert pings.count == 4  # every checkout but the first (a new connection)


def test_a_rested_connection_the_server_closed_is_replaced(engines: list[Engine]) -> None:
    engine = pool(engines, ping_after_idle=0)
    first = backend(engine)
    admin = create_engine(
        engine.url.render_as_string(False), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    admin.dispose()
    second = backend(engine)  # no error: the dead connection was found and replaced
    assert second != first
