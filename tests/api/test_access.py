"""Who sees and does what, through the HTTP API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import auth
from tests.builders import World


def test_without_a_token_every_api_call_is_401(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/pools")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"
    assert (
        client.get("/api/v1/pools", headers={"Authorization": "Bearer gph_nope"}).status_code == 401
    )


def test_admin_lists_pools_chairs_projects_and_balances(client: TestClient, world: World) -> None:
    h = auth(world, "admin")
    assert {p["id"] for p in client.get("/api/v1/pools", headers=h).json()["items"]} == {
        "nat",
        "loc",
    }
    assert {c["id"] for c in client.get("/api/v1/chairs", headers=h).json()["items"]} == {
        "chair-a",
        "chair-b",
    }
    assert {p["id"] for p in client.get("/api/v1/projects", headers=h).json()["items"]} == {
        "p1",
        "p1b",
        "p2",
    }
    r = client.post(
        "/api/v1/allocations/projects",
        headers=h,
        json={
            "pool_id": "nat",
            "project_id": "p2",
            "period": "2026Q4",
            "hours": 10,
            "reason": "test",
            "draw_from_pool": True,
        },
    )
    assert r.status_code == 201, r.text
    rows = client.get("/api/v1/balances?period=2026Q4", headers=h).json()["items"]
    assert rows == [
        {
            "project_id": "p2",
            "pool_id": "nat",
            "unit": "normalised-gpu-hour",
            "period": "2026Q4",
            "allocated_seconds": 36000,
            "adjustments_seconds": 0,
            "consumed_seconds": 0,
            "consumed_provisional_seconds": 0,
            "remaining_seconds": 36000,
            "allocated_hours": 10.0,
            "adjustments_hours": 0.0,
            "consumed_hours": 0.0,
            "consumed_provisional_hours": 0.0,
            "remaining_hours": 10.0,
            "utilisation": 0.0,
        }
    ]


def test_researcher_sees_only_own_chair_and_projects(client: TestClient, world: World) -> None:
    h = auth(world, "alice")
    assert {p["id"] for p in client.get("/api/v1/projects", headers=h).json()["items"]} == {
        "p1",
        "p1b",
    }
    assert [c["id"] for c in client.get("/api/v1/chairs", headers=h).json()["items"]] == ["chair-a"]
    assert client.get("/api/v1/projects/p2", headers=h).status_code == 404
    assert client.get("/api/v1/projects/p2/balances?period=2026Q4", headers=h).status_code == 404
    r = client.get("/api/v1/chairs/chair-b/balances?pool_id=nat&period=2026Q4", headers=h)
    assert r.status_code == 404
    assert client.get("/api/v1/journal", headers=h).status_code == 403


def test_researcher_cannot_approve_nor_request_for_other_projects(
    client: TestClient, world: World
) -> None:
    bob = auth(world, "bob")
    r = client.post(
        "/api/v1/requests",
        headers=bob,
        json={
            "project_id": "p2",
            "pool_id": "nat",
            "periods": [{"period": "2026Q4", "hours": 5}],
            "justification": "experiments",
        },
    )
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    alice = auth(world, "alice")
    r = client.post(f"/api/v1/requests/{request_id}/approve", headers=bob, json={})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    # alice cannot even see bob's request
    assert client.post(
        f"/api/v1/requests/{request_id}/approve", headers=alice, json={}
    ).status_code in (403, 404)
    r = client.post(
        "/api/v1/requests",
        headers=alice,
        json={
            "project_id": "p2",
            "pool_id": "nat",
            "periods": [{"period": "2026Q4", "hours": 5}],
            "justification": "not mine",
        },
    )
    assert r.status_code == 404
    assert (
        client.post(
            "/api/v1/allocations/chairs",
            headers=alice,
            json={
                "pool_id": "nat",
                "chair_id": "chair-a",
                "period": "2026Q4",
                "hours": 1,
                "reason": "x",
            },
        ).status_code
        == 403
    )


def test_engineer_reads_everything_and_maps_accounts_but_cannot_approve(
    client: TestClient, world: World
) -> None:
    h = auth(world, "eng")
    assert len(client.get("/api/v1/projects", headers=h).json()["items"]) == 3
    r = client.post(
        "/api/v1/projects/p1/slurm-accounts",
        headers=h,
        json={"cluster": "jean-zay", "account": "abc@h100"},
    )
    assert r.status_code == 200, r.text
    assert {"cluster": "jean-zay", "account": "abc@h100"} in r.json()["slurm_accounts"]
    r = client.post(
        "/api/v1/allocations/chairs",
        headers=h,
        json={
            "pool_id": "nat",
            "chair_id": "chair-a",
            "period": "2026Q4",
            "hours": 1,
            "reason": "x",
        },
    )
    assert r.status_code == 403


def test_request_lifecycle_through_the_api(client: TestClient, world: World) -> None:
    alice, admin = auth(world, "alice"), auth(world, "admin")
    r = client.post(
        "/api/v1/requests",
        headers=alice,
        json={
            "project_id": "p1",
            "pool_id": "nat",
            "gpu_type": "a100",
            "periods": [{"period": "2026Q4", "hours": 100}, {"period": "2027Q1", "hours": 50}],
            "justification": "thesis",
        },
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    r = client.post(
        f"/api/v1/requests/{rid}/comments", headers=auth(world, "eng"), json={"text": "ok"}
    )
    assert r.json()["comments"][0]["author"] == "eng"
    r = client.post(
        f"/api/v1/requests/{rid}/approve",
        headers=admin,
        json={
            "granted": [{"period": "2026Q4", "hours": 60}, {"period": "2027Q1", "hours": 0}],
            "reason": "partial",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "partially_approved"
    b = client.get("/api/v1/projects/p1/balances?period=2026Q4&pool_id=nat", headers=alice).json()[
        "items"
    ]
    assert b[0]["allocated_seconds"] == 60 * 3600
    entries = client.get(f"/api/v1/journal?request_id={rid}", headers=admin).json()["items"]
    assert sum(e["amount_seconds"] for e in entries if e["target"] == "project:p1") == 60 * 3600
    assert all(e["actor"] == "admin" and e["request_id"] == rid for e in entries)
    r = client.post(f"/api/v1/requests/{rid}/withdraw", headers=alice, json={})
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "state"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"
