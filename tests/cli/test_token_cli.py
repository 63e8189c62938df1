"""``gpuhours token create|list|revoke`` on both backends, and the demo's own admin token.

Commands run through click's ``CliRunner`` with the test's services (database and fixed clock,
2026-11-21 09:00 UTC) as the context object; the tokens they mint or revoke are then tried
against the HTTP API on the same database.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.bootstrap import Services, build
from connectors.cli import main
from connectors.http.app import create_app
from connectors.settings import Settings
from connectors.tokens import DEMO_NOTE, mint_demo_admin_token
from tests.builders import seed_world
from tests.cli.test_cli import one_error_line
from tests.conftest import NOW, FixedClock


class Cli:
    def __init__(self, services: Services) -> None:
        self.services = services

    def __call__(self, *args: str) -> Result:
        obj = {"services": self.services}
        return CliRunner().invoke(main, list(args), obj=obj, catch_exceptions=False)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, (args, result.output, result.stderr)
        assert result.stderr == "", result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("-o", "json", *args))


@pytest.fixture
def services(engine: Engine, clock: FixedClock) -> Services:
    sv = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    sv.clock = clock
    seed_world(sv.uow(), clock())
    return sv


@pytest.fixture
def cli(services: Services) -> Cli:
    return Cli(services)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=services)) as c:
        yield c


def status_with(client: TestClient, token: str) -> int:
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


def test_token_create_takes_an_expiry_in_days_or_as_a_date(
    cli: Cli, client: TestClient, clock: FixedClock
) -> None:
    default = cli.ok("token", "create", "--user", "alice", "--role", "researcher").strip()
    week = cli.ok(
        "token", "create", "--user", "alice", "--role", "researcher", "--expires", "7"
    ).strip()
    dated = cli.ok(
        "token", "create", "--user", "alice", "--role", "researcher", "--expires", "2027-01-31"
    ).strip()
    rows = {r["prefix"]: r for r in cli.json("token", "list", "--user", "alice")}
    assert rows[default[:12]]["expires_at"].startswith("2027-02-19T09:00:00")  # 90 days
    assert rows[week[:12]]["expires_at"].startswith("2026-11-28T09:00:00")
    assert rows[dated[:12]]["expires_at"].startswith("2027-01-31T00:00:00")
    clock.now = NOW + timedelta(days=8)
    assert [status_with(client, t) for t in (default, week, dated)] == [200, 401, 200]


@pytest.mark.parametrize(
    "value", ["0", "-3", "yesterday", "2026-11-20", "3651", "2040-01-01", "7d12"]
)
def test_token_create_refuses_a_bad_expiry_in_one_line(cli: Cli, value: str) -> None:
    before = cli.json("token", "list")
    result = cli("token", "create", "--user", "bob", "--role", "researcher", "--expires", value)
    line = one_error_line(result)
    assert line.startswith("gpuhours: error: expires: "), line
    assert cli.json("token", "list") == before


def test_token_list_shows_no_secret_and_revoke_stops_the_token_at_once(
    cli: Cli, client: TestClient, services: Services
) -> None:
    token = cli.ok("token", "create", "--user", "bob", "--role", "researcher", "--note", "nb")
    token = token.strip()
    listed = cli.ok("token", "list", "-o", "json")
    assert token not in listed
    assert token[12:20] not in listed
    row = next(r for r in json.loads(listed) if r["prefix"] == token[:12])
    assert row["username"] == "bob" and row["note"] == "nb" and row["state"] == "active"
    assert row["created_by"] == f"cli:{getpass.getuser()}"
    assert "token_hash" not in row and "token" not in row
    assert status_with(client, token) == 200

    revoked = cli.json("token", "revoke", str(row["id"]), "--reason", "left the lab")
    assert revoked["state"] == "revoked" and revoked["revoked_by"] == row["created_by"]
    assert status_with(client, token) == 401
    with services.uow() as uow:
        actions = [(e.action, e.actor) for e in uow.audit.list("user:bob")]
    assert actions[-2:] == [
        ("token.minted_for_user", row["created_by"]),
        ("token.revoked", row["created_by"]),
    ]
    active = cli.json("token", "list", "--user", "bob", "--active")
    assert row["id"] not in [r["id"] for r in active]


def test_token_revoke_of_an_unknown_token_is_one_line(cli: Cli) -> None:
    line = one_error_line(cli("token", "revoke", "424242"))
    assert "unknown token 424242" in line, line


def test_each_demo_start_revokes_the_previous_demo_admin_token(
    services: Services, client: TestClient, clock: FixedClock
) -> None:
    first = mint_demo_admin_token(services.session_factory, clock())
    assert status_with(client, first) == 200
    second = mint_demo_admin_token(services.session_factory, clock())
    assert [status_with(client, first), status_with(client, second)] == [401, 200]
    with services.uow() as uow:
        events = [e for e in uow.audit.list("user:admin") if e.action.startswith("token.")]
    assert [(e.action, e.actor) for e in events] == [
        ("token.minted_for_admin", "demo"),
        ("token.revoked", "demo"),
        ("token.minted_for_admin", "demo"),
    ]
    assert DEMO_NOTE in events[0].detail and "expires 2027-02-19T09:00:00+00:00" in events[0].detail
