from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.builders import World, seed_world
from tests.conftest import FixedClock


@pytest.fixture
def services(engine: Engine, clock: FixedClock) -> Services:
    sv = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    sv.clock = clock
    return sv


@pytest.fixture
def world(services: Services, clock: FixedClock) -> World:
    w = seed_world(services.uow(), clock())
    for username in ("admin", "eng", "alice", "bob"):
        w.tokens[username] = mint_token(services.session_factory, username, clock())
    return w


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=services)) as c:
        yield c


def auth(world: World, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[username]}"}
