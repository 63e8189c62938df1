"""A seeded organisation with e-mail addresses and languages, and a notifier factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update

from allocator import services as svc
from connectors.db.engine import make_session_factory
from connectors.db.tables import UserRow
from connectors.db.uow import SqlUnitOfWork
from connectors.notify.worker import Notifier
from connectors.settings import Settings
from tests.builders import ADMIN, seed_world
from tests.conftest import FixedClock
from tests.notify.servers import certificate

Make = Callable[..., Notifier]


def uow_of(engine: Engine) -> SqlUnitOfWork:
    return SqlUnitOfWork(make_session_factory(engine))


@pytest.fixture
def org(engine: Engine, clock: FixedClock) -> Engine:
    """The tests' world; everyone has an address; bob reads French; bob joins p1 (PI alice)."""
    uow = uow_of(engine)
    seed_world(uow, clock())
    with engine.begin() as conn:
        conn.execute(update(UserRow).values(email=UserRow.username + "@example.org"))
    svc.add_member(uow, ADMIN, clock(), "p1", "bob")
    with uow:
        uow.preferences.set_language("bob", "fr")
        uow.commit()
    return engine


@pytest.fixture
def make_notifier(engine: Engine, clock: FixedClock) -> Iterator[Make]:
    clients: list[httpx.Client] = []

    def make(**settings: Any) -> Notifier:
        values: dict[str, Any] = {
            "database_url": "sqlite://",
            "smtp_security": "none",
            "public_url": "https://gpuhours.example.org",
            "notify_backoff_seconds": 60,
        }
        values.update(settings)
        client = httpx.Client(timeout=5)
        clients.append(client)
        return Notifier(Settings(**values), make_session_factory(engine), clock, client=client)

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made once."""
    return certificate(tmp_path_factory.mktemp("tls"))
