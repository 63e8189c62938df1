"""``GET /api/v1/usage/accounts``: finished and unfinished jobs apart, each total the sum of its
split by GPU type (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from accounting.usage import UsageRecord
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
