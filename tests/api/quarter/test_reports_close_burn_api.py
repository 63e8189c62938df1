"""Reports, the close and burn rates through the HTTP API, on both backends."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.conftest import auth
from tests.api.quarter.support import (
    HEADER,
    RECONCILIATION,
    decide,
    upload,
)
from tests.builders import World
from tests.conftest import FixedClock
from tests.quarter_support import (
    ALTERED,
    POOL,
    q3_job,
    store,
)

# --- reports ----------------------------------------------------------------------------------


def test_report_formats(client: TestClient, rig: World) -> None:
    assert upload(client, rig, ALTERED).status_code == 201
    h = auth(rig, "eng")

    r = client.get("/api/v1/reports/2026Q4", params={"format": "json"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    doc = json.loads(r.text)
    assert doc["period"] == "2026Q4" and doc["closed_at"] is None
    projects = {
        row["project"]: row
        for row in doc["rows"]
        if row["level"] == "project" and row["pool"] == POOL
    }
    assert {p: row["consumed"] for p, row in projects.items()} == {
        "nlp": 128,
        "health": 19,
        "thesis": 87,
    }
    assert (projects["nlp"]["statement"], projects["nlp"]["status"]) == (200, "under")
    assert client.get("/api/v1/reports/2026Q4", headers=h).text == r.text  # json by default

    r = client.get("/api/v1/reports/2026Q4", params={"format": "csv"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="gpuhours-2026Q4.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert r.text.splitlines()[0].startswith("period,level,pool,chair,project,unit,")
    nlp = next(row for row in rows if row["project"] == "nlp")
    assert (nlp["pool"], nlp["chair"], nlp["consumed_hours"]) == (POOL, "rig-chair", "0.04")
    assert (nlp["statement_hours"], nlp["difference_hours"], nlp["status"]) == (
        "0.06",
        "-0.02",
        "under",
    )
    assert {row["level"] for row in rows} == {"pool", "chair", "project"}

    r = client.get("/api/v1/reports/2026Q4", params={"format": "html"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "<svg" in r.text and "rig-chair" in r.text and "</html>" in r.text

    r = client.get("/api/v1/reports/2026Q4", params={"format": "pdf"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "format"
    r = client.get("/api/v1/reports/2026Q9", headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "period"


def test_researchers_get_403_on_reports_close_and_decisions(client: TestClient, rig: World) -> None:
    h = auth(rig, "alice")
    assert client.get("/api/v1/reports/2026Q4", headers=h).status_code == 403
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "end"}, headers=h)
    assert r.status_code == 403
    assert decide(client, rig, "alice", project_id="nlp", action="accept").status_code == 403
    r = client.post(
        "/api/v1/periods/2026Q3/close", json={"reason": "end"}, headers=auth(rig, "eng")
    )
    assert r.status_code == 403
    state = client.get("/api/v1/periods/2026Q3", headers=h).json()
    assert state["closed"] is False


# --- the close --------------------------------------------------------------------------------


def _allocate_q3(client: TestClient, world: World) -> None:
    h = auth(world, "admin")
    r = client.post(
        "/api/v1/allocations/chairs",
        json={
            "pool_id": POOL,
            "chair_id": "rig-chair",
            "period": "2026Q3",
            "hours": 10,
            "reason": "Q3",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/allocations/projects",
        json={"pool_id": POOL, "project_id": "nlp", "period": "2026Q3", "hours": 4, "reason": "Q3"},
        headers=h,
    )
    assert r.status_code == 201, r.text


def test_close_freezes_the_period_and_late_usage_lands_in_the_next(
    client: TestClient, rig: World, engine: Engine, clock: FixedClock
) -> None:
    h = auth(rig, "admin")
    # 2026Q4 has not ended (the clock says 2026-11-21)
    r = client.post("/api/v1/periods/2026Q4/close", json={"reason": "too early"}, headers=h)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["field"] == "period"
    assert "has not ended" in r.json()["error"]["message"]

    _allocate_q3(client, rig)
    store(engine, [q3_job(101, 10, 3600)], clock())  # 1 GPU-hour of nlp in September
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": " "}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"

    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "Q3 signed off"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    signed = r.text
    doc = json.loads(signed)
    assert doc["closed_by"] == "admin"
    assert datetime.fromisoformat(doc["closed_at"]) == clock()
    nlp = next(row for row in doc["rows"] if row["project"] == "nlp")
    # 4 h allocated, 1 h consumed: 3 h expire (the pool's close policy)
    assert (nlp["allocated"], nlp["consumed"], nlp["expired"]) == (14400, 3600, 10800)
    state = client.get("/api/v1/periods/2026Q3", headers=auth(rig, "alice")).json()
    assert state == {
        "period": "2026Q3",
        "start": "2026-07-01T00:00:00Z",
        "end": "2026-10-01T00:00:00Z",
        "closed": True,
        "closed_at": "2026-11-21T09:00:00Z",
        "closed_by": "admin",
    }

    before = client.get("/api/v1/reports/2026Q3", headers=h)
    assert before.text == signed
    before_csv = client.get("/api/v1/reports/2026Q3", params={"format": "csv"}, headers=h).text
    q4_before = _nlp_q4_consumed(client, rig)

    # a job of September arrives after the close: 2 GPU-hours
    store(engine, [q3_job(102, 20, 7200)], clock())
    assert client.get("/api/v1/reports/2026Q3", headers=h).content == before.content
    after_csv = client.get("/api/v1/reports/2026Q3", params={"format": "csv"}, headers=h).text
    assert after_csv == before_csv
    # ... and is booked in 2026Q4, as late usage
    assert _nlp_q4_consumed(client, rig) == q4_before + 7200
    q4 = client.get("/api/v1/reports/2026Q4", params={"format": "csv"}, headers=h).text
    nlp_q4 = next(row for row in csv.DictReader(io.StringIO(q4)) if row["project"] == "nlp")
    assert nlp_q4["late_hours"] == "2.00"
    jobs = client.get(
        f"{RECONCILIATION}/jobs",
        params={"pool_id": POOL, "period": "2026Q4", "project_id": "nlp"},
        headers=h,
    ).json()["items"]
    assert [(j["job_id"], j["late"]) for j in jobs if j["late"]] == [(102, True)]

    # nothing moves into a closed period any more
    journal = client.get("/api/v1/journal", headers=h).json()["items"]
    for path, target in [
        ("/api/v1/allocations/chairs", {"chair_id": "rig-chair"}),
        ("/api/v1/allocations/projects", {"project_id": "nlp"}),
        ("/api/v1/adjustments", {"project_id": "nlp"}),
    ]:
        body = {"pool_id": POOL, "period": "2026Q3", "hours": 1, "reason": "late", **target}
        r = client.post(path, json=body, headers=h)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["error"]["field"] == "period"
    r = upload(
        client,
        rig,
        HEADER.encode() + b"enact-local|chair-nlp|alice||gres/gpu|3600\n",
        period="2026Q3",
    )
    assert r.status_code == 409 and r.json()["error"]["field"] == "period", r.text
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "again"}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["field"] == "period", r.text
    assert client.get("/api/v1/journal", headers=h).json()["items"] == journal


def _nlp_q4_consumed(client: TestClient, world: World) -> int:
    rows = client.get(
        "/api/v1/balances",
        params={"period": "2026Q4", "pool_id": POOL, "include_empty": "true"},
        headers=auth(world, "admin"),
    ).json()["items"]
    (nlp,) = [r for r in rows if r["project_id"] == "nlp"]
    return int(nlp["consumed_seconds"])


def test_an_unresolved_reconciliation_blocks_the_close_unless_forced(
    client: TestClient, rig: World, engine: Engine, clock: FixedClock
) -> None:
    h = auth(rig, "admin")
    store(engine, [q3_job(101, 10, 3600)], clock())
    # the statement says 3 000 GPU-seconds; we counted 3 600: over
    r = upload(
        client,
        rig,
        HEADER.encode() + b"enact-local|chair-nlp|alice||gres/gpu|3000\n",
        period="2026Q3",
    )
    assert r.status_code == 201, r.text
    journal = client.get("/api/v1/journal", headers=h).json()["items"]
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "Q3"}, headers=h)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["field"] == "period" and "is over" in r.json()["error"]["message"]
    assert client.get("/api/v1/periods/2026Q3", headers=h).json()["closed"] is False
    assert client.get("/api/v1/journal", headers=h).json()["items"] == journal
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "Q3", "force": True}, headers=h)
    assert r.status_code == 200, r.text
    nlp = next(row for row in json.loads(r.text)["rows"] if row["project"] == "nlp")
    assert (nlp["statement"], nlp["difference"], nlp["status"]) == (3000, 600, "over")


# --- burn rates -------------------------------------------------------------------------------


def test_burn_rates_and_projected_exhaustion(client: TestClient, rig: World) -> None:
    h = auth(rig, "admin")
    r = client.post(
        "/api/v1/allocations/projects",
        json={
            "pool_id": POOL,
            "project_id": "nlp",
            "period": "2026Q4",
            "hours": 1,
            "reason": "Q4",
            "draw_from_pool": True,
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    rows = client.get("/api/v1/burn", params={"period": "2026Q4"}, headers=h).json()["items"]
    by_key = {(row["project_id"], row["pool_id"]): row for row in rows}
    assert set(by_key) == {("nlp", POOL), ("health", POOL), ("thesis", POOL)}
    nlp = by_key[("nlp", POOL)]
    assert (nlp["allocated_seconds"], nlp["consumed_seconds"], nlp["remaining_seconds"]) == (
        3600,
        128,
        3472,
    )
    # 128 unit-seconds today, by 09:00: over 7 days that is 128 / (6 d + 9 h) = 128 / 550 800
    # per second = 0.00558 h/day; over 30 days 128 / (29 d + 9 h) = 0.00121 h/day.
    assert nlp["burn_rate_7d_hours_per_day"] == 0.006
    assert nlp["burn_rate_30d_hours_per_day"] == 0.001
    # 3 472 remaining at 128 / 550 800 per second: 14 940 450 s = 172 d 22:07:30 from now,
    # 2027-05-13, in 2027Q2: not before the end of 2026Q4, so no date of another quarter
    assert nlp["projected_exhaustion"] is None
    assert nlp["exhausts_before_period_end"] is False
    assert nlp["exhaustion_outlook"] == "not_before_period_end"
    # nothing allocated to health: no exhaustion to project
    assert by_key[("health", POOL)]["projected_exhaustion"] is None
    assert by_key[("health", POOL)]["exhaustion_outlook"] == "no_allocation"
    assert by_key[("health", POOL)]["burn_rate_7d_hours_per_day"] == 0.001  # 19 s

    # a researcher sees the projects she belongs to only
    mine = client.get("/api/v1/burn", params={"period": "2026Q4"}, headers=auth(rig, "alice"))
    assert [(row["project_id"], row["pool_id"]) for row in mine.json()["items"]] == [("nlp", POOL)]
    assert mine.json()["items"] == [
        nlp
    ]  # her accounts' usage alone gives the same burn as everyone's
    only = client.get(
        "/api/v1/burn", params={"period": "2026Q4", "pool_id": "nat"}, headers=h
    ).json()
    assert only == {"items": [], "next": None}
    r = client.get("/api/v1/burn", params={"period": "Q4"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "period"


def test_an_exhaustion_before_the_period_end_is_dated_and_an_overdrawn_one_is_exhausted(
    client: TestClient, rig: World
) -> None:
    h = auth(rig, "admin")
    for project_id, hours in (("nlp", "0.25"), ("thesis", "0.02")):
        r = client.post(
            "/api/v1/allocations/projects",
            json={
                "pool_id": POOL,
                "project_id": project_id,
                "period": "2026Q4",
                "hours": hours,
                "reason": "Q4",
                "draw_from_pool": True,
            },
            headers=h,
        )
        assert r.status_code == 201, r.text
    rows = client.get("/api/v1/burn", params={"period": "2026Q4"}, headers=h).json()["items"]
    by_key = {row["project_id"]: row for row in rows if row["pool_id"] == POOL}
    # nlp: 900 - 128 = 772 s left at 128 / 550 800 per second: 3 322 012 s from now, on
    # 29 December, before 2026Q4 ends
    nlp = by_key["nlp"]
    assert nlp["remaining_seconds"] == 772
    assert nlp["projected_exhaustion"] == "2026-12-29T19:46:52Z"
    assert (nlp["exhausts_before_period_end"], nlp["exhaustion_outlook"]) == (
        True,
        "before_period_end",
    )
    # thesis: 72 s allocated, 87 s consumed: already exhausted, no date to project
    thesis = by_key["thesis"]
    assert thesis["remaining_seconds"] == -15
    assert (thesis["projected_exhaustion"], thesis["exhausts_before_period_end"]) == (None, True)
    assert thesis["exhaustion_outlook"] == "exhausted"
    # the same answer through the CLI's presenter: one rule
    mine = client.get("/api/v1/burn", params={"period": "2026Q4"}, headers=auth(rig, "alice"))
    assert mine.json()["items"] == [nlp]


def test_an_open_period_reads_as_open_to_anyone(client: TestClient, rig: World) -> None:
    r = client.get("/api/v1/periods/2026Q4", headers=auth(rig, "bob"))
    assert r.status_code == 200, r.text
    start = datetime.fromisoformat(r.json()["start"])
    assert start == datetime(2026, 10, 1, tzinfo=UTC) and r.json()["closed"] is False
