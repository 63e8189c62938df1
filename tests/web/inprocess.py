"""The portal in process (the composed application, no browser), on the ``engine`` fixture's
database: a seeded world, tokens, clients and what their pages say."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.composition import compose
from connectors.db.session_tables import WebSessionRow
from connectors.settings import Settings
from tests.builders import seed_world
from tests.conftest import FixedClock

LOOPBACK = "http://127.0.0.1"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def services(engine: Engine, clock: FixedClock) -> Services:
    settings = Settings(database_url=engine.url.render_as_string(False), auth_failures=3)
    sv = build(settings, engine=engine)
    sv.clock = clock
    seed_world(sv.uow(), clock())
    return sv


@pytest.fixture
def tokens(services: Services, clock: FixedClock) -> dict[str, str]:
    return {u: mint_token(services.session_factory, u, clock()) for u in ("alice", "bob", "admin")}


def client_of(services: Services, base_url: str = LOOPBACK) -> TestClient:
    return TestClient(compose(services), base_url=base_url, follow_redirects=False)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with client_of(services) as c:
        yield c


def csrf_of(client: TestClient, path: str) -> str:
    found = CSRF.search(client.get(path).text)
    assert found is not None, path
    return found.group(1)


def sign_in(client: TestClient, token: str) -> TestClient:
    csrf = csrf_of(client, "/portal/signin")
    answer = client.post("/portal/signin", data={"csrf": csrf, "token": token, "next": "/"})
    assert answer.status_code == 303, answer.text
    return client


def sessions(services: Services) -> list[WebSessionRow]:
    with services.session_factory() as session:
        return list(session.scalars(select(WebSessionRow)))


def request_form(csrf: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "project_id": "p1",
        "pool_id": "nat",
        "hours-2026Q4": "10",
        "justification": "training runs",
    }
