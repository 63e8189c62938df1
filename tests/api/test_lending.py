"""Lending inside a chair over the API: an admin sets the chair's terms, p1 lends to p1b (one
``loan:N`` transfer), a recall is refused by the chair's policy, and at the period's end the
loan returns once; the chair's total never moves."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient

from tests.api.conftest import auth
from tests.builders import H, World
from tests.conftest import FixedClock

WHERE = {"pool_id": "nat", "period": "2026Q4"}


def _chair_total(view: dict[str, object]) -> float:
    projects = view["projects"]
    assert isinstance(projects, list)
    return sum(float(p["unused_hours"]) for p in projects)


def test_a_loan_is_journaled_refused_by_policy_and_returns_once_at_the_period_end(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    admin = auth(world, "admin")
    body = {**WHERE, "project_id": "p1", "hours": 100, "reason": "start", "draw_from_pool": True}
    assert client.post("/api/v1/allocations/projects", json=body, headers=admin).status_code == 201
    terms = {"policy": "period_end", "limits": [{"project_id": "p1", "lending_limit_hours": 40}]}
    r = client.put("/api/v1/chairs/chair-a/lending", json=terms, headers=admin)
    assert r.status_code == 200, r.text

    loan = {**WHERE, "lender": "p1", "borrower": "p1b", "hours": 41, "reason": "paper"}
    r = client.post("/api/v1/loans", json=loan, headers=admin)
    assert r.status_code == 409 and "lending limit" in r.json()["error"]["message"], r.text
    r = client.post("/api/v1/loans", json={**loan, "hours": 30}, headers=admin)
    assert r.status_code == 201, r.text
    assert [(e["kind"], e["reference"], e["amount_seconds"]) for e in r.json()] == [
        ("transfer", "loan:1", 30 * H)
    ]
    r = client.post("/api/v1/loans", json={**loan, "borrower": "p2"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "borrower", r.text
    r = client.post("/api/v1/loans", json={**loan, "hours": 1}, headers=auth(world, "alice"))
    assert r.status_code == 403

    recall = {**WHERE, "lender": "p1", "hours": 10, "reason": "need it"}
    r = client.post("/api/v1/loans/recall", json=recall, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["field"] == "policy", r.text

    view = client.get("/api/v1/chairs/chair-a/lending", params=WHERE, headers=auth(world, "eng"))
    assert view.status_code == 200, view.text
    before = view.json()
    assert before["loans"][0]["outstanding_hours"] == 30
    assert {p["project_id"]: p["unused_hours"] for p in before["projects"]} == {
        "p1": 70,
        "p1b": 30,
    }

    r = client.post("/api/v1/loans/return", json=WHERE, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["field"] == "period"
    clock.now = datetime.fromisoformat("2027-01-01T00:00:00+00:00")
    r = client.post("/api/v1/loans/return", json=WHERE, headers=admin)
    assert r.status_code == 200, r.text
    assert [(e["reference"], e["amount_seconds"]) for e in r.json()] == [("loan:1:return", 30 * H)]
    again = client.post("/api/v1/loans/return", json=WHERE, headers=admin)
    assert again.status_code == 200 and again.json() == []
    after = client.get("/api/v1/chairs/chair-a/lending", params=WHERE, headers=admin).json()
    assert after["loans"][0]["outstanding_hours"] == 0
    assert _chair_total(after) == _chair_total(before) == 100


def test_a_thesis_ends_no_allocation_after_and_its_hours_return_once(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    admin = auth(world, "admin")
    body = {**WHERE, "project_id": "p1", "hours": 100, "reason": "start", "draw_from_pool": True}
    assert client.post("/api/v1/allocations/projects", json=body, headers=admin).status_code == 201
    end = {"end": "2026-12-15T00:00:00Z"}
    assert (
        client.put("/api/v1/projects/p1/end", json=end, headers=auth(world, "alice")).status_code
        == 403
    )
    r = client.put("/api/v1/projects/p1/end", json=end, headers=admin)
    assert r.status_code == 200 and r.json()["end"].startswith("2026-12-15"), r.text

    ask = {"project_id": "p1", "pool_id": "nat", "periods": [{"period": "2027Q1", "hours": 5}],
           "justification": "after the defence"}  # fmt: skip
    r = client.post("/api/v1/requests", json=ask, headers=auth(world, "alice"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "periods", r.text
    assert "end of project p1" in r.json()["error"]["message"]
    later = {**body, "period": "2027Q1", "hours": 1}
    r = client.post("/api/v1/allocations/projects", json=later, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "period", r.text

    clock.now = datetime.fromisoformat("2026-12-20T00:00:00+00:00")
    r = client.post("/api/v1/ended-projects/return", json={}, headers=admin)
    assert r.status_code == 200, r.text
    assert [(e["source"], e["target"], e["amount_seconds"], e["reference"]) for e in r.json()] == [
        ("project:p1", "chair:chair-a", 100 * H, "project-end:p1")
    ]
    again = client.post("/api/v1/ended-projects/return", json={"project_id": "p1"}, headers=admin)
    assert again.status_code == 200 and again.json() == []


def test_closing_the_period_returns_a_loan_the_scheduled_return_had_not(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    admin = auth(world, "admin")
    body = {**WHERE, "project_id": "p1", "hours": 100, "reason": "start", "draw_from_pool": True}
    assert client.post("/api/v1/allocations/projects", json=body, headers=admin).status_code == 201
    loan = {**WHERE, "lender": "p1", "borrower": "p1b", "hours": 30, "reason": "paper"}
    assert client.post("/api/v1/loans", json=loan, headers=admin).status_code == 201
    clock.now = datetime.fromisoformat("2027-01-02T00:00:00+00:00")  # before the 6-hourly job
    close = {"reason": "Q4 done", "force": True}
    r = client.post("/api/v1/periods/2026Q4/close", json=close, headers=admin)
    assert r.status_code == 200, r.text
    journal = client.get("/api/v1/journal", params={"pool": "nat"}, headers=admin).json()["items"]
    back = [(e["reference"], e["amount_seconds"]) for e in journal if e["period"] == "2026Q4"]
    assert ("loan:1:return", 30 * H) in back
    r = client.post("/api/v1/loans/return", json=WHERE, headers=admin)
    assert r.status_code == 409 and "closed" in r.json()["error"]["message"]  # never changes
