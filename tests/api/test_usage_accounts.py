"""``GET /api/v1/usage/accounts``: finished and unfinished jobs apart, each total the sum of its
split by GPU type (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from accounting.usage import UsageRecord
from connectors.bootstrap import Services
from tests.api.conftest import auth
from tests.builders import World
from tests.conftest import FixedClock
from tests.quarter_support import CLUSTER, store


def job(job_id: int, start: int, elapsed: int, **kw: object) -> UsageRecord:
    values: dict[str, object] = {
        "cluster": CLUSTER,
        "job_id": job_id,
        "submit": start - 60,
        "account": "acct-unmapped",
        "user": "carol",
        "partition": "gpu",
        "qos": "normal",
        "state": "COMPLETED",
        "start": start,
        "end": start + elapsed,
        "elapsed": elapsed,
        "gpus": 2,
        "gpus_by_type": (("a100", 2),),
        **kw,
    }
    return UsageRecord(**values)  # type: ignore[arg-type]


def test_account_usage_keeps_finished_and_running_jobs_apart_in_totals_and_by_type(
    client: TestClient, world: World, engine: Engine, clock: FixedClock
) -> None:
    start = int((clock() - timedelta(hours=2)).timestamp())
    finished = job(1, start, 3600)  # 2 A100 x 1 h
    running = job(  # 1 H100 + 1 GPU without a type, 10 minutes so far
        2, start + 3600, 600, state="RUNNING", end=None, gpus_by_type=(("h100", 1),)
    )
    store(engine, [finished, running], clock())
    r = client.get(
        "/api/v1/usage/accounts", params={"unmapped": "true"}, headers=auth(world, "eng")
    )
    assert r.status_code == 200, r.text
    [row] = [u for u in r.json()["items"] if u["account"] == "acct-unmapped"]
    assert (row["jobs"], row["provisional_jobs"]) == (2, 1)
    assert row["gpu_seconds"] == 7200
    assert row["gpu_seconds_by_type"] == {"a100": 7200}
    assert row["provisional_gpu_seconds"] == 1200
    assert row["provisional_gpu_seconds_by_type"] == {"h100": 600, "": 600}
    for u in r.json()["items"]:
        assert sum(u["gpu_seconds_by_type"].values()) == u["gpu_seconds"], u
        assert sum(u["provisional_gpu_seconds_by_type"].values()) == u["provisional_gpu_seconds"]


def _row(client: TestClient, world: World, **params: str) -> dict[str, object]:
    r = client.get("/api/v1/usage/accounts", params=params, headers=auth(world, "eng"))
    assert r.status_code == 200, r.text
    [row] = [u for u in r.json()["items"] if u["account"] == "acct-unmapped"]
    return dict(row)


def test_a_period_counts_the_part_of_each_run_inside_it_as_a_charge_does(
    client: TestClient, world: World, engine: Engine, clock: FixedClock, services: Services
) -> None:
    q4 = services.settings.calendar.check("2026Q4", clock())
    edge = int(q4.start.timestamp())
    across = job(1, edge - 1800, 3600)  # 2 A100: 30 min in Q3, 30 min in Q4
    inside_q3 = job(2, edge - 7200, 600, gpus=1, gpus_by_type=(("h100", 1),))
    at_the_edge = job(3, edge, 0, state="CANCELLED")  # no length: Q4's, where it started
    # submitted a minute into Q4, not started: a job of Q4, of no seconds yet
    waiting = replace(job(4, edge + 120, 0), start=None, end=None, state="PENDING")
    store(engine, [across, inside_q3, at_the_edge, waiting], clock())

    q3_row, q4_row = _row(client, world, period="2026Q3"), _row(client, world, period="2026Q4")
    assert (q3_row["jobs"], q3_row["gpu_seconds"]) == (2, 2 * 1800 + 600)
    assert q3_row["gpu_seconds_by_type"] == {"a100": 3600, "h100": 600}
    assert (q4_row["jobs"], q4_row["provisional_jobs"], q4_row["gpu_seconds"]) == (3, 1, 3600)
    assert q4_row["gpu_seconds_by_type"] == {"a100": 3600}
    everything = _row(client, world)
    assert everything["jobs"] == 4
    assert everything["gpu_seconds"] == 3600 + 600 + 3600  # the two periods' parts, whole
    r = client.get("/api/v1/usage/accounts?period=2026Q2", headers=auth(world, "eng"))
    assert "acct-unmapped" not in [u["account"] for u in r.json()["items"]]


def test_a_period_of_another_scheme_is_refused_naming_period(
    client: TestClient, world: World
) -> None:
    for label in ("2026-10", "2026", "0001Q1"):
        r = client.get(f"/api/v1/usage/accounts?period={label}", headers=auth(world, "eng"))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "period"
