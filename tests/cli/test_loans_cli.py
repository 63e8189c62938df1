"""``gpuhours loans`` on this host's database (``--local``) and through the API: set a chair's
terms, lend, refuse a recall the policy forbids in one line, return at the period's end once;
``loans show`` prints the API's answer, both ways."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from allocator import services as svc
from connectors.auth import mint_token
from connectors.bootstrap import build
from connectors.cli import main
from connectors.cli.config import Remote
from connectors.cli.gateway.remote import RemoteGateway
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.builders import ADMIN, CAL, H, seed_world
from tests.cli.test_cli import one_error_line
from tests.cli.test_rounds_cli import InProcess
from tests.conftest import FixedClock

WHERE = ("--pool", "nat", "--period", "2026Q4")


@pytest.mark.parametrize("way", ["local", "remote"])
def test_a_loan_from_the_command_line_returns_once_at_the_period_end(
    engine: Engine, clock: FixedClock, way: str
) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    services.clock = clock
    seed_world(services.uow(), clock())
    svc.allocate_to_project(
        services.uow(), ADMIN, clock(), "nat", "p1", "2026Q4", 100 * H, "x", True, calendar=CAL
    )
    token = mint_token(services.session_factory, "admin", clock())
    api_client = TestClient(create_app(services=services), base_url="http://gpuhours.test")

    def run(*args: str) -> Result:
        obj: dict[str, Any] = {"services": services}
        if way == "remote":
            remote = Remote("http://gpuhours.test", token, "test")
            obj = {"gateway": RemoteGateway(remote, InProcess(api_client))}
        return CliRunner().invoke(main, ["-o", "json", *args], obj=obj, catch_exceptions=False)

    terms = run("loans", "terms", "chair-a", "--policy", "period_end", "--limit", "p1=40/")
    assert terms.exit_code == 0, terms.output
    too_much = run("loans", "lend", "p1", "p1b", *WHERE, "--hours", "41", "--reason", "paper")
    assert "lending limit" in one_error_line(too_much)
    lent = run("loans", "lend", "p1", "p1b", *WHERE, "--hours", "30", "--reason", "paper")
    assert lent.exit_code == 0, lent.output
    assert [e["reference"] for e in json.loads(lent.stdout)] == ["loan:1"]
    refused = run("loans", "recall", "p1", *WHERE, "--hours", "5", "--reason", "need it")
    assert "policy" in one_error_line(refused)

    clock.now = datetime.fromisoformat("2027-01-01T00:00:00+00:00")
    back = run("loans", "return", *WHERE)
    assert back.exit_code == 0, back.output
    assert [(e["reference"], e["amount_seconds"]) for e in json.loads(back.stdout)] == [
        ("loan:1:return", 30 * H)
    ]
    assert json.loads(run("loans", "return", *WHERE).stdout) == []
    shown = json.loads(run("loans", "show", "chair-a", *WHERE).stdout)
    api = api_client.get(
        "/api/v1/chairs/chair-a/lending",
        params={"pool_id": "nat", "period": "2026Q4"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert shown == api.json()
    assert shown["loans"][0]["outstanding_hours"] == 0


@pytest.mark.parametrize("way", ["local", "remote"])
def test_a_pool_regulated_simulated_and_applied_once_from_the_command_line(
    engine: Engine, clock: FixedClock, way: str
) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    services.clock = clock
    seed_world(services.uow(), clock())
    svc.allocate_to_project(
        services.uow(), ADMIN, clock(), "nat", "p1", "2026Q4", 1000 * H, "x", True, calendar=CAL
    )
    token = mint_token(services.session_factory, "admin", clock())
    api_client = TestClient(create_app(services=services), base_url="http://gpuhours.test")

    def run(*args: str) -> Result:
        obj: dict[str, Any] = {"services": services}
        if way == "remote":
            remote = Remote("http://gpuhours.test", token, "test")
            obj = {"gateway": RemoteGateway(remote, InProcess(api_client))}
        return CliRunner().invoke(main, ["-o", "json", *args], obj=obj, catch_exceptions=False)

    assert "pool_id" in one_error_line(run("regulation", "set", "loc", "--rule", "genci"))
    regulated = run("regulation", "set", "nat", "--rule", "genci", "--reclaim-percent", "50")
    assert regulated.exit_code == 0, regulated.output
    assert json.loads(regulated.stdout)["reclaim_percent"] == 50
    (p1,) = json.loads(run("regulation", "simulate", "nat").stdout)
    assert [(c["on"][:10], c["hours"]) for c in p1["ahead"]] == [("2026-10-01", 500)]
    applied = json.loads(run("regulation", "apply", "nat").stdout)
    assert [(e["reference"], e["amount_seconds"]) for e in applied] == [
        ("clawback:genci:p1:2026-10-01", 500 * H)
    ]
    assert json.loads(run("regulation", "apply", "nat").stdout) == []
    assert [r["pool_id"] for r in json.loads(run("regulation", "list").stdout)] == ["nat"]


@pytest.mark.parametrize("way", ["local", "remote"])
def test_a_project_ended_from_the_command_line_returns_its_hours_once(
    engine: Engine, clock: FixedClock, way: str
) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    services.clock = clock
    seed_world(services.uow(), clock())
    svc.allocate_to_project(
        services.uow(), ADMIN, clock(), "nat", "p1", "2026Q4", 10 * H, "x", True, calendar=CAL
    )
    token = mint_token(services.session_factory, "admin", clock())
    api_client = TestClient(create_app(services=services), base_url="http://gpuhours.test")

    def run(*args: str) -> Result:
        obj: dict[str, Any] = {"services": services}
        if way == "remote":
            remote = Remote("http://gpuhours.test", token, "test")
            obj = {"gateway": RemoteGateway(remote, InProcess(api_client))}
        return CliRunner().invoke(main, ["-o", "json", *args], obj=obj, catch_exceptions=False)

    ended = run("projects", "end", "p1", "--on", "2026-12-15T00:00:00Z")
    assert ended.exit_code == 0, ended.output
    clock.now = datetime.fromisoformat("2026-12-20T00:00:00+00:00")
    back = json.loads(run("projects", "return-ended").stdout)
    assert [(e["reference"], e["amount_seconds"]) for e in back] == [("project-end:p1", 10 * H)]
    assert json.loads(run("projects", "return-ended", "--project", "p1").stdout) == []
