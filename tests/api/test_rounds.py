"""Allocation rounds over the API: an admin opens a round, researchers' requests join it, the
chairs are weighed and a thesis guaranteed, the proposal is edited and the round approved
whole (every allocation journaled ``round:N``), or refused whole when a pool cannot hold it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from allocator import services as svc
from allocator.model import MILLI, GpuInventory, Rate, RequestState
from connectors.bootstrap import Services
from tests.api.conftest import auth
from tests.builders import ADMIN, EPOCH, H, World, local_pool
from tests.conftest import FixedClock


def _open(client: TestClient, world: World, clock: FixedClock) -> dict[str, Any]:
    body = {
        "period": "2026Q4",
        "pool_ids": ["nat"],
        "deadline": (clock() + timedelta(days=1)).isoformat(),
    }
    r = client.post("/api/v1/rounds", json=body, headers=auth(world, "admin"))
    assert r.status_code == 201, r.text
    return r.json()


def _available(view: dict[str, Any]) -> int:
    (total,) = [d for d in view["demand"] if d["chair_id"] == ""]
    return int(total["available_seconds"])


def _supply_hours(opened: dict[str, Any]) -> int:
    return _available(opened) // H


def _ask(client: TestClient, world: World, who: str, project: str, hours: int) -> int:
    body = {
        "project_id": project,
        "pool_id": "nat",
        "periods": [{"period": "2026Q4", "hours": hours}],
        "justification": "experiments for the round",
    }
    r = client.post("/api/v1/requests", json=body, headers=auth(world, who))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _round_of_three(
    client: TestClient, world: World, clock: FixedClock
) -> tuple[int, int, dict[str, int]]:
    """A round over nat asked 1.6 times its supply: p1 (thesis) and p1b of chair-a, p2 of
    chair-b; returns the round's id, the supply in hours and the requests by project."""
    opened = _open(client, world, clock)
    supply = _supply_hours(opened)
    asks = {"p1": supply // 2, "p1b": supply // 2, "p2": supply * 6 // 10}
    ids = {p: _ask(client, world, "bob" if p == "p2" else "alice", p, h) for p, h in asks.items()}
    return opened["id"], supply, ids


def test_a_round_from_opening_to_approval_journals_round_n_on_every_allocation(
    client: TestClient, world: World, clock: FixedClock, services: Services
) -> None:
    admin = auth(world, "admin")
    round_id, supply, ids = _round_of_three(client, world, clock)
    before = client.get(f"/api/v1/rounds/{round_id}", headers=auth(world, "eng")).json()
    assert before["state"] == "open" and before["demand"] is None  # staff wait for the deadline
    assert sorted(r["id"] for r in before["requests"]) == sorted(ids.values())

    r = client.put(
        f"/api/v1/rounds/{round_id}/weights",
        json={"weights": [{"chair_id": "chair-b", "weight": 2}]},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["weights"] == [{"chair_id": "chair-b", "weight": 2}]
    minimum = {"request_id": ids["p1"], "hours": supply * 4 // 10, "reason": "thesis"}
    r = client.put(f"/api/v1/rounds/{round_id}/minimums", json=minimum, headers=admin)
    assert r.status_code == 200, r.text

    clock.now += timedelta(days=2)  # past the deadline: the proposal shows to staff
    shown = client.get(f"/api/v1/rounds/{round_id}", headers=auth(world, "eng")).json()
    assert shown["state"] == "closed"
    lines = {line["request_id"]: line for line in shown["lines"]}
    assert sum(line["seconds"] for line in lines.values()) <= _available(shown)
    assert lines[ids["p1"]]["seconds"] >= supply * 4 // 10 * H
    assert all(line["explanation"] for line in lines.values())

    too_much = {"hours": supply, "reason": "more than asked"}
    r = client.put(f"/api/v1/rounds/{round_id}/lines/{ids['p1b']}", json=too_much, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "hours"
    edit = {"hours": 1000, "reason": "p2 has hours left from Q3"}
    r = client.put(f"/api/v1/rounds/{round_id}/lines/{ids['p2']}", json=edit, headers=admin)
    edited = {line["request_id"]: line for line in r.json()["lines"]}[ids["p2"]]
    assert edited["edited"] and edited["seconds"] == 1000 * H and "Q3" in edited["explanation"]

    r = client.post(f"/api/v1/rounds/{round_id}/approve", json={}, headers=admin)
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["state"] == "approved"
    assert {line["request_id"]: line["seconds"] for line in approved["lines"]} == {
        rid: line["seconds"] if rid != ids["p2"] else 1000 * H for rid, line in lines.items()
    }
    with services.uow() as uow:
        for project, request_id in ids.items():
            entries = uow.ledger.entries(request_id=request_id)
            assert entries and {e.reference for e in entries} == {f"round:{round_id}"}
            assert all(f"round:{round_id}: " in e.reason for e in entries)
            request = uow.requests.get(request_id)
            granted = approved_amount(approved, request_id)
            assert request is not None and request.lines[0].granted == granted, project
            assert sum(e.amount for e in entries if e.target == f"project:{project}") == granted
            assert request.state is RequestState.PARTIALLY_APPROVED
    again = client.post(f"/api/v1/rounds/{round_id}/approve", headers=admin)
    assert again.status_code == 409 and again.json()["error"]["field"] == "state"


def approved_amount(view: dict[str, Any], request_id: int) -> int:
    return next(int(x["seconds"]) for x in view["lines"] if x["request_id"] == request_id)


def test_a_round_a_pool_cannot_hold_is_refused_whole_and_writes_nothing(
    client: TestClient, world: World, clock: FixedClock, services: Services
) -> None:
    admin = auth(world, "admin")
    round_id, supply, ids = _round_of_three(client, world, clock)
    for project, request_id in ids.items():  # every line edited up to what it asked
        asked = {"p1": supply // 2, "p1b": supply // 2, "p2": supply * 6 // 10}[project]
        body = {"hours": asked, "reason": "the committee gives all"}
        r = client.put(f"/api/v1/rounds/{round_id}/lines/{request_id}", json=body, headers=admin)
        assert r.status_code == 200, r.text
    clock.now += timedelta(days=2)
    with services.uow() as uow:
        journal_before = len(uow.ledger.entries(pool_id="nat"))

    r = client.post(f"/api/v1/rounds/{round_id}/approve", headers=admin)

    assert r.status_code == 409, r.text
    assert "over-commit" in r.json()["error"]["message"]
    with services.uow() as uow:
        assert len(uow.ledger.entries(pool_id="nat")) == journal_before
        for request_id in ids.values():
            request = uow.requests.get(request_id)
            assert request is not None and request.state is RequestState.SUBMITTED
    shown = client.get(f"/api/v1/rounds/{round_id}", headers=admin).json()
    assert shown["state"] == "closed" and shown["decided_by"] is None


def test_rounds_are_for_staff_and_their_changes_for_admins(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    round_id = _open(client, world, clock)["id"]
    assert client.get("/api/v1/rounds", headers=auth(world, "alice")).status_code == 403
    listed = client.get("/api/v1/rounds", headers=auth(world, "eng")).json()["items"]
    assert [r["id"] for r in listed] == [round_id]
    body = {"weights": [{"chair_id": "chair-a", "weight": 3}]}
    r = client.put(f"/api/v1/rounds/{round_id}/weights", json=body, headers=auth(world, "eng"))
    assert r.status_code == 403
    clash = {"period": "2026Q4", "pool_ids": ["nat"], "deadline": clock().isoformat()}
    r = client.post("/api/v1/rounds", json=clash, headers=auth(world, "admin"))
    assert r.status_code == 409 and r.json()["error"]["field"] == "pool_ids"


def test_a_stored_round_caps_an_h100_request_at_the_pools_h100_left(
    client: TestClient, world: World, clock: FixedClock, services: Services
) -> None:
    """lab holds 4 a100 and 1 h100 over 2026Q4 (2 208 h per GPU); 1 000 h of h100 are already
    approved: bob's 3 000 h of h100 get the 1 208 h of h100 left, alice's 2 000 h of a100 all."""
    admin = auth(world, "admin")
    svc.create_pool(
        services.uow(),
        ADMIN,
        clock(),
        local_pool(
            id="lab",
            inventory=(GpuInventory("a100", 4), GpuInventory("h100", 1)),
            rates=(Rate("a100", MILLI, EPOCH), Rate("h100", MILLI, EPOCH)),
            routes=(),
        ),
    )

    def ask(who: str, project: str, hours: int, gpu_type: str) -> int:
        body = {
            "project_id": project,
            "pool_id": "lab",
            "gpu_type": gpu_type,
            "periods": [{"period": "2026Q4", "hours": hours}],
            "justification": "experiments",
        }
        r = client.post("/api/v1/requests", json=body, headers=auth(world, who))
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    earlier = ask("alice", "p1", 1_000, "h100")
    r = client.post(f"/api/v1/requests/{earlier}/approve", json={}, headers=admin)
    assert r.status_code == 200, r.text
    body = {
        "period": "2026Q4",
        "pool_ids": ["lab"],
        "deadline": (clock() + timedelta(days=1)).isoformat(),
    }
    round_id = client.post("/api/v1/rounds", json=body, headers=admin).json()["id"]
    h100, a100 = ask("bob", "p2", 3_000, "h100"), ask("alice", "p1b", 2_000, "a100")
    clock.now += timedelta(days=2)

    shown = client.get(f"/api/v1/rounds/{round_id}", headers=auth(world, "eng")).json()
    supply = {d["gpu_type"]: d["available_hours"] for d in shown["demand"] if not d["chair_id"]}
    assert supply == {"": 5 * 2_208 - 1_000, "a100": 4 * 2_208, "h100": 1_208}
    r = client.post(f"/api/v1/rounds/{round_id}/approve", json={}, headers=admin)
    assert r.status_code == 200, r.text
    assert approved_amount(r.json(), h100) == 1_208 * H
    assert approved_amount(r.json(), a100) == 2_000 * H
    with services.uow() as uow:
        entries = uow.ledger.entries(request_id=h100)
        assert sum(e.amount for e in entries if e.target == "project:p2") == 1_208 * H
