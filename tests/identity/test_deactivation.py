"""Users who go: an administrator deactivates (and reactivates) someone through the API or the
CLI; from the next request on, the user's tokens are refused; audited."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.cli import main
from connectors.db import tables as t
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.builders import seed_world
from tests.conftest import FixedClock


@pytest.fixture
def services(engine: Engine, clock: FixedClock) -> Services:
    sv = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    sv.clock = clock
    seed_world(sv.uow(), clock())
    return sv


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=services)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_deactivates_then_reactivates_a_user_through_the_api(
    client: TestClient, services: Services, clock: FixedClock
) -> None:
    admin = mint_token(services.session_factory, "admin", clock())
    alice = mint_token(services.session_factory, "alice", clock())
    off = client.post("/api/v1/users/alice/deactivate", headers=bearer(admin))
    assert off.status_code == 200 and off.json() == {"username": "alice", "active": False}
    assert client.get("/api/v1/me", headers=bearer(alice)).status_code == 401
    on = client.post("/api/v1/users/alice/reactivate", headers=bearer(admin))
    assert on.json() == {"username": "alice", "active": True}
    assert client.get("/api/v1/me", headers=bearer(alice)).status_code == 200
    with services.engine.connect() as conn:
        actions = conn.execute(
            select(t.AuditEventRow.actor, t.AuditEventRow.action).where(
                t.AuditEventRow.subject == "user:alice"
            )
        ).all()
    assert [tuple(a) for a in actions][-2:] == [
        ("admin", "user.deactivated"),
        ("admin", "user.reactivated"),
    ]


def test_only_an_admin_deactivates_a_known_user_other_than_herself(
    client: TestClient, services: Services, clock: FixedClock
) -> None:
    admin = mint_token(services.session_factory, "admin", clock())
    bob = mint_token(services.session_factory, "bob", clock())
    refused = client.post("/api/v1/users/alice/deactivate", headers=bearer(bob))
    assert refused.status_code == 403
    unknown = client.post("/api/v1/users/nobody/deactivate", headers=bearer(admin))
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "username"
    herself = client.post("/api/v1/users/admin/deactivate", headers=bearer(admin))
    assert herself.status_code == 422 and herself.json()["error"]["field"] == "username"
    assert client.get("/api/v1/me", headers=bearer(bob)).status_code == 200


def test_the_cli_deactivates_a_user_whose_token_is_then_refused(
    client: TestClient, services: Services, clock: FixedClock
) -> None:
    alice = mint_token(services.session_factory, "alice", clock())
    run = CliRunner().invoke(
        main, ["-o", "json", "users", "deactivate", "alice"], obj={"services": services}
    )
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout) == {"username": "alice", "active": False}
    assert client.get("/api/v1/me", headers=bearer(alice)).status_code == 401
