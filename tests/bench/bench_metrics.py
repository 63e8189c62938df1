"""``GET /metrics`` latency on PostgreSQL with 1,000 projects x 3 pools.

A script, not a test:
    .venv/bin/python -m tests.bench.bench_metrics [--projects 1000] [--days 20] [--scrapes 50]

It creates (drops first) the database ``gpuhours_bench_metrics`` on the server of
``GPUHOURS_BENCH_DATABASE_URL`` (else ``GPUHOURS_TEST_DATABASE_URL``, else
``postgresql://postgres@127.0.0.1:5432/test``), migrates it and seeds:

* 3 pools: a national grant (validity one year, deposited over its quarters) and two local
  pools (their capacity deposited for the current period), 18 chairs, each allocated a share
  of each pool through the use cases;
* ``--projects`` projects spread over the chairs (bulk inserts), each with one Slurm account
  per pool's cluster and an allocation from its chair in each of the 3 pools (ledger entries,
  bulk);
* usage in ``usage_daily`` and ``usage_period`` (bulk, the period rollup summed from the daily
  rows): for each project and pool, ``--days`` days of the current period up to today with one
  or two GPU types, today's provisional (running jobs), and as many days of the previous
  period; plus the usage of 20 unmapped accounts.

Then it times scrapes of ``/metrics`` through the ASGI app (Starlette's ``TestClient``, httpx
underneath; no network): the first scrape of a new app (cold: empty connection pool), then
``--scrapes`` scrapes with the cache disabled (``metrics_cache_seconds=0``: every scrape
collects from the database), then as many with the default 5 s cache. Printed: median, p90
and max in ms, the database collection time (``gpuhours_collector_duration_seconds``), the
payload in KB and the number of series. Target: median < 30 ms with the cache disabled.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url

from accounting.charging import local_days
from allocator import services as svc
from allocator.model import (
    MILLI,
    SECONDS_PER_HOUR,
    Chair,
    ClusterRoute,
    EntryKind,
    GpuInventory,
    Pool,
    PoolKind,
    Rate,
    Role,
    User,
    chair_account,
    project_account,
)
from allocator.periods import Calendar, period_containing
from connectors.auth import mint_token
from connectors.bootstrap import build, utc_now
from connectors.db import burn_windows
from connectors.db import tables as t
from connectors.db.migrate import upgrade
from connectors.http.app import create_app
from connectors.settings import Settings

H = SECONDS_PER_HOUR
CAL = Calendar()
DB = "gpuhours_bench_metrics"
ADMIN = User("bench", Role.ADMIN)
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
PERIOD_KEY = [c.name for c in t.UsagePeriodRow.__table__.primary_key.columns]
CHAIRS = [f"chair-{i:02d}" for i in range(18)]
#: (pool, cluster, GPU types)
POOLS = [
    ("national", "jz", ("a100", "h100")),
    ("local-a", "enact-a", ("a100",)),
    ("local-b", "enact-b", ("h100", "l40s")),
]


def server_url() -> str:
    return (
        os.environ.get("GPUHOURS_BENCH_DATABASE_URL")
        or os.environ.get("GPUHOURS_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/test"
    )


def fresh_database() -> str:
    url = make_url(server_url()).set(drivername="postgresql+psycopg")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DB}"))
    admin.dispose()
    return url.set(database=DB).render_as_string(hide_password=False)


def seed(url: str, projects: int, days: int, now: datetime) -> None:
    sv = build(Settings(database_url=url))
    engine = sv.engine
    upgrade(engine)
    current = period_containing(now)
    previous = period_containing(current.start - timedelta(days=1))
    rng = random.Random(42)
    with sv.uow() as uow:
        uow.users.add(ADMIN)
        uow.users.add(User("pi", Role.RESEARCHER))
        uow.commit()
    grant_start = datetime(now.year - (now.month < 5), 5, 1, tzinfo=UTC)
    for pool_id, cluster, types in POOLS:
        national = pool_id == "national"
        pool = Pool(
            id=pool_id,
            name=pool_id,
            kind=PoolKind.NATIONAL if national else PoolKind.LOCAL,
            unit="normalised-gpu-hour" if national else "gpu-hour",
            valid_from=grant_start if national else None,
            valid_until=grant_start.replace(year=grant_start.year + 1) if national else None,
            inventory=() if national else tuple(GpuInventory(g, 1024) for g in types),
            routes=(ClusterRoute(cluster, ""),),
            rates=tuple(Rate(g, (2 if national else 1) * MILLI, EPOCH) for g in types),
        )
        svc.create_pool(sv.uow(), ADMIN, now, pool)
        if national:
            svc.add_grant(sv.uow(), ADMIN, now, pool_id, 40_000_000 * H, "grant", calendar=CAL)
        else:
            svc.open_period(sv.uow(), ADMIN, now, pool_id, current.label, calendar=CAL)
    for chair in CHAIRS:
        svc.create_chair(sv.uow(), ADMIN, now, Chair(chair, chair))
        for pool_id, _cluster, _types in POOLS:
            svc.allocate_to_chair(
                sv.uow(),
                ADMIN,
                now,
                pool_id,
                chair,
                current.label,
                30_000 * H,
                "share",
                calendar=CAL,
            )

    ids = [f"proj-{i:04d}" for i in range(projects)]
    chair_of = {pid: CHAIRS[i % len(CHAIRS)] for i, pid in enumerate(ids)}
    with engine.begin() as conn:
        conn.execute(
            insert(t.ProjectRow),
            [{"id": p, "chair_id": chair_of[p], "name": p, "kind": "rnd", "pi": "pi"} for p in ids],
        )
        conn.execute(
            insert(t.SlurmAccountRow),
            [
                {"cluster": cluster, "account": f"acct-{p}", "project_id": p}
                for p in ids
                for _pool, cluster, _types in POOLS
            ],
        )
        conn.execute(
            insert(t.LedgerEntryRow),
            [
                {
                    "kind": EntryKind.ALLOCATE.value,
                    "pool_id": pool_id,
                    "period": current.label,
                    "source": chair_account(chair_of[p]),
                    "target": project_account(p),
                    "amount": rng.randint(200, 2000) * H,
                    "actor": ADMIN.username,
                    "at": now,
                    "reason": "bench",
                    "reference": "",
                }
                for p in ids
                for pool_id, _cluster, _types in POOLS
            ],
        )
        today = int(now.timestamp()) // 86400
        first = int(current.start.timestamp()) // 86400
        before = int(previous.start.timestamp()) // 86400
        accounts = [f"acct-{p}" for p in ids] + [f"unmapped-{i}" for i in range(20)]
        rows = []
        for account in accounts:
            for pool_id, cluster, types in POOLS:
                rate = 2 if pool_id == "national" else 1
                spans = [
                    (
                        current.label,
                        rng.sample(range(first, today + 1), min(days, today - first + 1)),
                    ),
                    (previous.label, rng.sample(range(before, first), days)),
                ]
                for period, chosen in spans:
                    for day in chosen:
                        for gpu_type in types[: rng.randint(1, len(types))]:
                            seconds = rng.randint(1, 8) * rng.randint(1800, 86400)
                            rows.append(
                                {
                                    "period": period,
                                    "pool_id": pool_id,
                                    "cluster": cluster,
                                    "account": account,
                                    "day": day,
                                    "gpu_type": gpu_type,
                                    "provisional": day == today,
                                    "late": False,
                                    "priced": True,
                                    "gpu_seconds": seconds,
                                    "units": seconds * rate,
                                    "rows": rng.randint(1, 20),
                                }
                            )
        by_period: dict[tuple[object, ...], list[int]] = {}
        for r in rows:
            key = tuple(r[k] for k in PERIOD_KEY)
            acc = by_period.setdefault(key, [0, 0, 0])
            acc[0] += r["gpu_seconds"]
            acc[1] += r["units"]
            acc[2] += r["rows"]
        period_rows = [
            {**dict(zip(PERIOD_KEY, key, strict=True)), "gpu_seconds": g, "units": u, "rows": n}
            for key, (g, u, n) in by_period.items()
        ]
        for table, values in ((t.UsageDailyRow, rows), (t.UsagePeriodRow, period_rows)):
            for i in range(0, len(values), 10_000):
                conn.execute(insert(table), values[i : i + 10_000])
    # the burn windows of today summed, as the day's first ingestion sums them
    with engine.begin() as conn:
        burn_windows.rebuild(conn, local_days(CAL).of(int(now.timestamp())), CAL)
    # as autovacuum leaves the tables soon after a bulk load: statistics, and the visibility
    # map that lets the burn windows read the daily rollup's index alone
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(
        f"seeded {projects} projects, {len(CHAIRS)} chairs, {len(POOLS)} pools; "
        f"{len(rows)} usage_daily rows ({days} days per project and pool in {current.label} "
        f"and {previous.label}), {len(period_rows)} usage_period rows"
    )
    engine.dispose()


def scrape(client: TestClient, token: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response.text


def collector_ms(body: str) -> float:
    for line in body.splitlines():
        if line.startswith("gpuhours_collector_duration_seconds "):
            return float(line.split()[1]) * 1000
    return float("nan")


def figures(label: str, times: list[float], collection: list[float]) -> None:
    times = sorted(times)
    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    print(
        f"{label:<28} median {statistics.median(times):6.1f} ms   p90 {p90:6.1f} ms   "
        f"max {max(times):6.1f} ms   (database collection median "
        f"{statistics.median(collection):.1f} ms)"
    )


def run(url: str, scrapes: int, cache: float) -> tuple[list[float], list[float], str]:
    engine: Engine | None = None
    sv = build(Settings(database_url=url, metrics_cache_seconds=cache))
    engine = sv.engine
    times, collection, body = [], [], ""
    with sv.uow() as uow:  # the scraper, as Prometheus scrapes (the business series)
        if uow.users.get("prometheus") is None:
            uow.users.add(User("prometheus", Role.SCRAPER))
            uow.commit()
    token = mint_token(sv.session_factory, "prometheus", utc_now())
    with TestClient(create_app(services=sv)) as client:
        for _ in range(scrapes):
            ms, body = scrape(client, token)
            times.append(ms)
            collection.append(collector_ms(body))
    engine.dispose()
    return times, collection, body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--no-seed", action="store_true", help="reuse the seeded database")
    args = parser.parse_args()

    now = utc_now()
    if args.no_seed:
        url = make_url(server_url()).set(drivername="postgresql+psycopg", database=DB)
        url_s = url.render_as_string(hide_password=False)
    else:
        url_s = fresh_database()
        seed(url_s, args.projects, args.days, now)

    cold, cold_collection, body = run(url_s, 1, 0)
    size = len(body.encode())
    series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
    gpuhours = sum(1 for line in body.splitlines() if line.startswith("gpuhours_"))
    print(f"payload {size / 1024:.0f} KB, {series} series ({gpuhours} gpuhours_*)")
    print(f"{'cold (first scrape)':<28} {cold[0]:6.1f} ms   (database collection "
          f"{cold_collection[0]:.1f} ms)")  # fmt: skip
    times, collection, _ = run(url_s, args.scrapes, 0)
    figures(f"cache disabled, {args.scrapes} scrapes", times, collection)
    times, collection, _ = run(url_s, args.scrapes, 5)
    figures(f"cache 5 s, {args.scrapes} scrapes", times, collection)


if __name__ == "__main__":
    main()
