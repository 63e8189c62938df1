"""Regulation over the API on both databases: the national pool (a 12-month grant, May 2026 to
May 2027) regulated by the GENCI rule; p1 allocated 1 000 h and 25 % used by 1 October, five
months in. The simulation shows 400 h and the date, apply posts them once (journaled
``clawback:...``, back to the chair), a second apply posts nothing, and the quarter report
shows the 400 h clawed back."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from accounting.ingestion import UsageBatch, Window
from allocator import services as svc
from allocator.model import SlurmAccount
from connectors.bootstrap import Services
from connectors.db.usage_store import SqlUsageStore
from tests.api.conftest import auth
from tests.builders import ADMIN, H, World, usage_record
from tests.conftest import FixedClock


def _used_a_quarter(engine: Engine, services: Services, clock: FixedClock) -> None:
    """p1 ran 125 A100-hours on jean-zay in October: 250 normalised hours (rate 2)."""
    svc.map_slurm_account(
        services.uow(), ADMIN, clock(), "p1", SlurmAccount("jean-zay", "acct-jz"),
        clusters=["jean-zay", "enact-dev"],
    )  # fmt: skip
    start = int(datetime(2026, 10, 5, tzinfo=UTC).timestamp())
    job = usage_record(start, 125 * 3600, cluster="jean-zay", account="acct-jz", job_id=7)
    now = int(clock().timestamp())
    SqlUsageStore(engine).store_window("jean-zay", Window(start, now), UsageBatch([job]), now, None)


def test_a_grant_25_percent_used_at_month_5_is_simulated_applied_once_and_reported(
    client: TestClient, world: World, services: Services, engine: Engine, clock: FixedClock
) -> None:
    admin, eng = auth(world, "admin"), auth(world, "eng")
    body = {"pool_id": "nat", "project_id": "p1", "period": "2026Q4", "hours": 1000,
            "reason": "the grant's share", "draw_from_pool": True}  # fmt: skip
    assert client.post("/api/v1/allocations/projects", json=body, headers=admin).status_code == 201
    _used_a_quarter(engine, services, clock)

    refused = client.put("/api/v1/pools/nat/regulation", json={"rule": "genci"}, headers=eng)
    assert refused.status_code == 403
    bad = client.put("/api/v1/pools/loc/regulation", json={"rule": "genci"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "pool_id", bad.text
    r = client.put("/api/v1/pools/nat/regulation", json={"rule": "genci"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["threshold_percent"] == 30 and r.json()["reclaim_percent"] == 40

    r = client.get("/api/v1/pools/nat/regulation/simulation", headers=eng)
    assert r.status_code == 200, r.text
    (p1,) = r.json()["items"]
    assert (p1["project_id"], p1["grant_hours"], p1["consumed_hours"]) == ("p1", 1000, 250)
    assert [(c["on"][:10], c["hours"]) for c in p1["ahead"]] == [("2026-10-01", 400)]

    r = client.post("/api/v1/pools/nat/regulation/apply", headers=admin)
    assert r.status_code == 200, r.text
    assert [(e["kind"], e["source"], e["target"], e["amount_seconds"], e["reference"])
            for e in r.json()] == [
        ("release", "project:p1", "chair:chair-a", 400 * H, "clawback:genci:p1:2026-10-01")
    ]  # fmt: skip
    again = client.post("/api/v1/pools/nat/regulation/apply", headers=admin)
    assert again.status_code == 200 and again.json() == []

    report = client.get("/api/v1/reports/2026Q4", headers=admin)
    assert report.status_code == 200, report.text
    rows = report.json()["rows"]
    (row,) = [x for x in rows if x["level"] == "project" and x["project"] == "p1"]
    assert (row["clawed_hours"], row["allocated_hours"], row["consumed_hours"]) == (400, 600, 250)
    (pool,) = [x for x in rows if x["level"] == "pool" and x["pool"] == "nat"]
    assert pool["clawed_hours"] == 400
    csv = client.get("/api/v1/reports/2026Q4", params={"format": "csv"}, headers=admin)
    assert csv.status_code == 200 and "clawed_hours" in csv.text.splitlines()[0]
