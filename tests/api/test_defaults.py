"""Sensible defaults: a read whose period is optional reads the current period of the site's
calendar (at the service's clock, in the site's time zone), a read whose pool is optional reads
every pool, and an action that needs no input takes no body."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.auth import mint_token
from connectors.bootstrap import build
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.api.conftest import auth
from tests.builders import World, seed_world
from tests.conftest import FixedClock

#: The tests' clock (tests.conftest.NOW, 2026-11-21) lies in this quarter of the UTC calendar.
CURRENT = "2026Q4"


def _allocate_project(client: TestClient, world: World) -> None:
    _allocate_chair(client, world)
    body = {
        "pool_id": "nat",
        "project_id": "p1",
        "period": CURRENT,
        "hours": 40,
        "reason": "thesis",
    }
    r = client.post("/api/v1/allocations/projects", json=body, headers=auth(world, "admin"))
    assert r.status_code == 201, r.text


def _allocate_chair(client: TestClient, world: World, hours: int = 100) -> None:
    body = {
        "pool_id": "nat",
        "chair_id": "chair-a",
        "period": CURRENT,
        "hours": hours,
        "reason": "share",
    }
    r = client.post("/api/v1/allocations/chairs", json=body, headers=auth(world, "admin"))
    assert r.status_code == 201, r.text


def _items(body: object) -> list[dict[str, object]]:
    """The rows of a list answer (its ``items``; these lists fit one page)."""
    assert isinstance(body, dict), body
    assert body["next"] is None
    items = body["items"]
    assert isinstance(items, list)
    return items


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/balances",
        "/api/v1/projects/p1/balances",
        "/api/v1/burn",
        "/api/v1/chairs/chair-a/balances",
    ],
)
def test_a_balance_read_without_period_reads_the_current_period(
    client: TestClient, world: World, path: str
) -> None:
    _allocate_project(client, world)
    h = auth(world, "admin")
    without = client.get(path, headers=h)
    assert without.status_code == 200, without.text
    rows = _items(without.json())
    assert rows and {row["period"] for row in rows} == {CURRENT}
    assert _items(client.get(path, params={"period": CURRENT}, headers=h).json()) == rows
    earlier = client.get(path, params={"period": "2026Q3"}, headers=h).json()
    assert {row["period"] for row in _items(earlier)} <= {"2026Q3"}


def test_the_pool_balance_without_period_is_the_current_periods(
    client: TestClient, world: World
) -> None:
    h = auth(world, "admin")
    r = client.get("/api/v1/pools/nat/balances", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["period"] == CURRENT
    assert r.json() == client.get(f"/api/v1/pools/nat/balances?period={CURRENT}", headers=h).json()


def test_the_chair_balance_without_pool_lists_every_pool(client: TestClient, world: World) -> None:
    _allocate_chair(client, world, hours=250)
    rows = _items(
        client.get("/api/v1/chairs/chair-a/balances", headers=auth(world, "admin")).json()
    )
    by_pool = {row["pool_id"]: row for row in rows}
    assert set(by_pool) == {"nat", "loc"}
    assert by_pool["nat"]["received_seconds"] == 250 * 3600
    assert by_pool["loc"]["received_seconds"] == 0
    one = client.get("/api/v1/chairs/chair-a/balances?pool_id=nat", headers=auth(world, "admin"))
    assert _items(one.json()) == [by_pool["nat"]]


@pytest.mark.parametrize(("zone", "expected"), [("Europe/Paris", "2027Q1"), ("UTC", "2026Q4")])
def test_the_current_period_follows_the_sites_time_zone(
    engine: Engine, zone: str, expected: str
) -> None:
    """At 23:30 UTC on 31 December it is already the next year's first quarter in Paris."""
    new_year_eve = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    settings = Settings(database_url=engine.url.render_as_string(False), time_zone=zone)
    site = build(settings, engine=engine)
    site.clock = FixedClock(new_year_eve)
    seed_world(site.uow(), new_year_eve)
    token = mint_token(site.session_factory, "admin", new_year_eve)
    with TestClient(create_app(services=site)) as client:
        r = client.get("/api/v1/pools/nat/balances", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["period"] == expected


def _request(client: TestClient, world: World) -> int:
    body = {
        "project_id": "p1",
        "pool_id": "nat",
        "periods": [{"period": CURRENT, "hours": 10}],
        "justification": "training",
    }
    r = client.post("/api/v1/requests", json=body, headers=auth(world, "alice"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_a_request_is_withdrawn_without_a_body(client: TestClient, world: World) -> None:
    rid = _request(client, world)
    r = client.post(f"/api/v1/requests/{rid}/withdraw", headers=auth(world, "alice"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "withdrawn"
    assert r.json()["decision_reason"] == ""


def test_a_request_is_approved_in_full_without_a_body(client: TestClient, world: World) -> None:
    rid = _request(client, world)
    r = client.post(f"/api/v1/requests/{rid}/approve", headers=auth(world, "admin"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved"
    assert r.json()["lines"][0]["granted_seconds"] == 10 * 3600


def test_a_token_is_minted_without_a_body(client: TestClient, world: World) -> None:
    r = client.post("/api/v1/users/bob/tokens", headers=auth(world, "admin"))
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["username"]
        == "bob"
    )


def test_the_documented_bodies_of_those_actions_are_optional(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/requests/{request_id}/withdraw",
        "/api/v1/requests/{request_id}/approve",
        "/api/v1/users/{username}/tokens",
        "/api/v1/tokens/{token_id}/revoke",
    ):
        assert paths[path]["post"]["requestBody"].get("required", False) is False, path
    for path in (
        "/api/v1/balances",
        "/api/v1/burn",
        "/api/v1/pools/{pool_id}/balances",
        "/api/v1/chairs/{chair_id}/balances",
        "/api/v1/projects/{project_id}/balances",
    ):
        params = {p["name"]: p for p in paths[path]["get"]["parameters"]}
        assert params["period"].get("required", False) is False, path
        assert "current period" in params["period"]["description"], path
