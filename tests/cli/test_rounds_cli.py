"""``gpuhours rounds`` on this host's database (``--local``) and through the API (a
``RemoteGateway`` over the app in process): open a round, weigh its chairs, edit a line and
approve it; what ``rounds show`` prints is the API's answer for the same round, both ways."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
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
from tests.builders import ADMIN, ALICE, BOB, CAL, seed_world
from tests.cli.test_cli import one_error_line
from tests.conftest import FixedClock


class InProcess(httpx.BaseTransport):
    """The API in process, as a remote CLI's transport."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.client.send(request)


@pytest.mark.parametrize("way", ["local", "remote"])
def test_a_round_opened_edited_and_approved_from_the_command_line(
    engine: Engine, clock: FixedClock, way: str
) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    services.clock = clock
    seed_world(services.uow(), clock())
    token = mint_token(services.session_factory, "admin", clock())
    api_client = TestClient(create_app(services=services), base_url="http://gpuhours.test")

    def run(*args: str) -> Result:
        obj: dict[str, Any] = {"services": services}
        if way == "remote":
            remote = Remote("http://gpuhours.test", token, "test")
            obj = {"gateway": RemoteGateway(remote, InProcess(api_client))}
        return CliRunner().invoke(main, ["-o", "json", *args], obj=obj, catch_exceptions=False)

    deadline = (clock() + timedelta(days=1)).isoformat()
    opened = run("rounds", "open", "--period", "2026Q4", "--pool", "nat", "--deadline", deadline)
    assert opened.exit_code == 0, opened.output
    round_id = json.loads(opened.stdout)["id"]
    asks = [
        svc.submit_request(
            services.uow(), who, clock(), p, "nat", [("2026Q4", h)], "x", calendar=CAL
        )
        for who, p, h in ((ALICE, "p1", 2000 * 3600), (BOB, "p2", 2000 * 3600))
    ]
    assert run("rounds", "weights", str(round_id), "chair-b=3").exit_code == 0
    refused = run(
        "rounds", "edit", str(round_id), str(asks[0].id), "--hours", "5000", "--reason", "x"
    )
    assert "hours" in one_error_line(refused)
    edited = run(
        "rounds", "edit", str(round_id), str(asks[0].id), "--hours", "100", "--reason", "Q3 left"
    )
    assert edited.exit_code == 0, edited.output
    clock.now += timedelta(days=2)
    approved = run("rounds", "approve", str(round_id))
    assert approved.exit_code == 0, approved.output

    shown = json.loads(run("rounds", "show", str(round_id)).stdout)
    assert shown["state"] == "approved" and shown["reference"] == f"round:{round_id}"
    assert {x["request_id"]: x["seconds"] for x in shown["lines"]}[asks[0].id] == 100 * 3600
    api = api_client.get(f"/api/v1/rounds/{round_id}", headers={"Authorization": f"Bearer {token}"})
    assert shown == api.json()
    assert [r["id"] for r in json.loads(run("rounds", "list").stdout)] == [round_id]


def test_rounds_demand_prints_each_gpu_types_supply_beside_its_demand(
    engine: Engine, clock: FixedClock
) -> None:
    """loc holds 2 a100 (4 416 h over 2026Q4): ``rounds demand`` prints a100's row with that
    supply, and the pool's total as ``every type``."""
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    services.clock = clock
    seed_world(services.uow(), clock())
    opened = svc.open_round(
        services.uow(), ADMIN, clock(), "2026Q4", ["loc"], clock() + timedelta(days=1), calendar=CAL
    )
    svc.submit_request(
        services.uow(),
        ALICE,
        clock(),
        "p1",
        "loc",
        [("2026Q4", 5000 * 3600)],
        "x",
        "a100",
        calendar=CAL,
    )
    clock.now += timedelta(days=2)
    printed = CliRunner().invoke(
        main, ["-o", "table", "rounds", "demand", str(opened.id)], obj={"services": services}
    )
    assert printed.exit_code == 0, printed.output
    rows = [line.split() for line in printed.stdout.splitlines()]
    assert rows[0] == [
        "POOL_ID",
        "GPU_TYPE",
        "CHAIR_ID",
        "REQUESTED_HOURS",
        "MINIMUMS_HOURS",
        "AVAILABLE_HOURS",
    ]
    assert ["loc", "a100", "every", "chair", "5000.0", "0.0", "4416.0"] in rows
    assert any(row[:3] == ["loc", "every", "type"] and row[-1] == "4416.0" for row in rows)
