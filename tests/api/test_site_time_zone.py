"""An ``sreport`` taken in Paris time reconciles as ``match`` across a quarter boundary.

The rig's cluster runs in Paris time: ``sreport ... start=2027-01-01 end=2027-04-01`` counts
from midnight in Paris, 23:00 UTC on 31 December. With ``GPUHOURS_TIME_ZONE=Europe/Paris``
gpuhours counts the same hours, so jobs running across New Year's Eve match line by line in
both quarters; a UTC site would count an hour less in 2027Q1 for each GPU running then.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from accounting.charging import charge
from accounting.ingestion import UsageBatch, Window
from accounting.usage import UsageRecord
from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.builders import World, seed_world
from tests.conftest import FixedClock
from tests.quarter_support import CLUSTER, POOL, rig_pool, seed_rig

H = 3600
JANUARY = datetime(2027, 1, 10, 9, tzinfo=UTC)


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


def job(job_id: int, account: str, user: str, start: int, elapsed: int, gpus: int) -> UsageRecord:
    return UsageRecord(
        cluster=CLUSTER,
        job_id=job_id,
        submit=start - 60,
        account=account,
        user=user,
        partition="gpu-a100",
        qos="normal",
        state="COMPLETED",
        start=start,
        end=start + elapsed,
        elapsed=elapsed,
        gpus=gpus,
        gpus_by_type=(("a100", gpus),),
    )


#: nlp: 1 GPU 22:00-02:00 UTC = 23:00-03:00 in Paris: 1 h in 2026Q4, 3 h in 2027Q1.
#: thesis: 2 GPUs 22:30-23:30 UTC = 23:30-00:30 in Paris: 2 x 30 min in each quarter.
JOBS = [
    job(1, "chair-nlp", "alice", utc(2026, 12, 31, 22), 4 * H, 1),
    job(2, "proj-thesis-01", "carol", utc(2026, 12, 31, 22, 30), H, 2),
]


def sreport(first: str, last: str, nlp: int, thesis: int) -> bytes:
    """``sreport -P -t Seconds cluster AccountUtilizationByUser`` as the cluster prints it:
    the window in local (Paris) time."""
    return (
        "-" * 80 + "\n"
        f"Cluster/Account/User Utilization {first} - {last} (7956000 secs)\n"
        "Usage reported in TRES Seconds\n" + "-" * 80 + "\n"
        "Cluster|Account|Login|Proper Name|TRES Name|Used\n"
        f"{CLUSTER}|chair-nlp|||gres/gpu|{nlp}\n"
        f"{CLUSTER}|chair-nlp|alice||gres/gpu|{nlp}\n"
        f"{CLUSTER}|proj-thesis-01|||gres/gpu|{thesis}\n"
        f"{CLUSTER}|proj-thesis-01|carol||gres/gpu|{thesis}\n"
    ).encode()


@pytest.fixture
def paris(engine: Engine) -> Services:
    settings = Settings(database_url=engine.url.render_as_string(False), time_zone="Europe/Paris")
    sv = build(settings, engine=engine)
    sv.clock = FixedClock(JANUARY)
    return sv


@pytest.fixture
def client(paris: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=paris)) as c:
        yield c


@pytest.fixture
def rig(paris: Services) -> World:
    world = seed_world(paris.uow(), JANUARY)
    for username in ("admin", "eng"):
        world.tokens[username] = mint_token(paris.session_factory, username, JANUARY)
    seed_rig(paris.uow(), JANUARY)
    epoch = int(JANUARY.timestamp())
    window = Window(utc(2026, 12, 31), epoch)
    paris.usage_store().store_window(CLUSTER, window, UsageBatch(JOBS), epoch, None)
    return world


def reconcile(client: TestClient, world: World, period: str, statement: bytes) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    query = {"pool_id": POOL, "period": period, "format": "sreport", "file_name": f"{period}.psv"}
    r = client.post(
        "/api/v1/statements",
        params=query,
        content=statement,
        headers={**admin, "Content-Type": "text/plain"},
    )
    assert r.status_code == 201, r.text
    r = client.get(
        "/api/v1/reconciliation", params={"pool_id": POOL, "period": period}, headers=admin
    )
    assert r.status_code == 200, r.text
    return {ln["project_id"]: ln for ln in r.json()["lines"]}


def test_an_sreport_in_paris_time_matches_on_both_sides_of_new_year(
    client: TestClient, rig: World
) -> None:
    q4 = sreport("2026-10-01T00:00:00", "2026-12-31T23:59:59", nlp=H, thesis=2 * 1800)
    q1 = sreport("2027-01-01T00:00:00", "2027-03-31T23:59:59", nlp=3 * H, thesis=2 * 1800)
    for period, statement, nlp, thesis in (("2026Q4", q4, H, 3600), ("2027Q1", q1, 3 * H, 3600)):
        lines = reconcile(client, rig, period, statement)
        assert {p: (ln["ours"], ln["theirs"], ln["status"]) for p, ln in lines.items()} == {
            "nlp": (nlp, nlp, "match"),
            "thesis": (thesis, thesis, "match"),
        }, period


def test_a_utc_site_would_count_an_hour_less_in_the_new_quarter() -> None:
    # the same nlp job charged by a UTC site: 2 h in 2027Q1 where sreport says 3 h, a
    # difference of 33 %, far beyond the tolerance (60 s or 1 %)
    parts = {c.period: c.gpu_seconds for c in charge(JOBS[0], rig_pool())}
    assert parts == {"2026Q4": 2 * H, "2027Q1": 2 * H}
