"""Units: a refusal quotes amounts in the unit the caller used: hours of the pool's unit, not
GPU-seconds."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import auth
from tests.builders import World


def _post(client: TestClient, world: World, path: str, body: dict[str, object]) -> dict[str, str]:
    r = client.post(path, json=body, headers=auth(world, "admin"))
    assert r.status_code == 409, r.text
    error: dict[str, str] = r.json()["error"]
    return error


def test_an_over_commit_quotes_hours_of_the_pools_unit(client: TestClient, world: World) -> None:
    chair = {"pool_id": "nat", "chair_id": "chair-a", "period": "2026Q4", "reason": "share"}
    r = client.post(
        "/api/v1/allocations/chairs", json={**chair, "hours": 100}, headers=auth(world, "admin")
    )
    assert r.status_code == 201, r.text
    project = {"pool_id": "nat", "project_id": "p1", "period": "2026Q4", "reason": "thesis"}
    error = _post(client, world, "/api/v1/allocations/projects", {**project, "hours": "100.5"})
    assert error["field"] == "hours"
    assert error["message"] == (
        "hours: over-commit refused: chair chair-a in nat/2026Q4 has 100 normalised-gpu-hour"
        " available, 100.5 asked"
    )
    assert "GPU-seconds" not in error["message"] and "361800" not in error["message"]


def test_a_pools_over_commit_quotes_its_hours(client: TestClient, world: World) -> None:
    body = {
        "pool_id": "loc",
        "chair_id": "chair-a",
        "period": "2026Q4",
        "hours": 999_999,
        "reason": "too much",
    }
    error = _post(client, world, "/api/v1/allocations/chairs", body)
    # the local pool: 2 A100 x 92 days x 24 h of gpu-hour
    assert error["message"] == (
        "hours: over-commit refused: pool loc in 2026Q4 has 4416 gpu-hour available, 999999 asked"
    )


def _amount_fields(row: dict[str, object]) -> set[str]:
    return {k.removesuffix("_seconds") for k in row if k.endswith("_seconds")}


def test_every_amount_says_its_unit_in_hours_and_seconds(client: TestClient, world: World) -> None:
    """Every object with amounts carries the pool's ``unit`` and each amount both as integer
    ``*_seconds`` and as ``*_hours``."""
    h = auth(world, "admin")
    chair = {
        "pool_id": "nat",
        "chair_id": "chair-a",
        "period": "2026Q4",
        "hours": "400",
        "reason": "share",
    }
    entry = client.post("/api/v1/allocations/chairs", json=chair, headers=h).json()
    request = client.post(
        "/api/v1/requests",
        json={
            "project_id": "p1",
            "pool_id": "loc",
            "periods": [{"period": "2026Q4", "hours": 5}],
            "justification": "local",
        },
        headers=auth(world, "alice"),
    ).json()
    objects = {
        "entry": entry,
        "journal": client.get("/api/v1/journal?limit=1", headers=h).json()["items"][0],
        "pool balance": client.get("/api/v1/pools/nat/balances", headers=h).json(),
        "chair balance": client.get(
            "/api/v1/chairs/chair-a/balances?pool_id=nat", headers=h
        ).json()["items"][0],
        "project balance": client.get(
            "/api/v1/balances?pool_id=nat&include_empty=true", headers=h
        ).json()["items"][0],
        "request": request,
    }
    for what, row in objects.items():
        expected = "gpu-hour" if row["pool_id"] == "loc" else "normalised-gpu-hour"
        assert row["unit"] == expected, what
        for amount in _amount_fields(row):
            assert isinstance(row[f"{amount}_seconds"], int), (what, amount)
            assert row[f"{amount}_hours"] == round(row[f"{amount}_seconds"] / 3600, 3), (
                what,
                amount,
            )
    assert entry["amount_hours"] == 400.0 and entry["amount_seconds"] == 400 * 3600
    line = request["lines"][0]
    assert (line["requested_seconds"], line["requested_hours"]) == (5 * 3600, 5.0)
