"""The quarterly reconciliation report over 10,000,000 job-usage rows and 500 projects.

A script, not a test:
    .venv/bin/python -m tests.bench.bench_report [--jobs 10000000] [--projects 500]
        [--chunk 250000] [--runs 20] [--keep]

It creates (drops first) the PostgreSQL database ``gpuhours_bench_report`` through the admin
database (``GPUHOURS_BENCH_ADMIN_URL``), migrates it and seeds an organisation: a local pool and
a national pool, 18 chairs, ``--projects`` projects (each with its Slurm account on both
clusters) and an allocation for every project in both pools for 2026Q4. Then ``--jobs`` job
records spread over the quarter (one to eight GPUs, minutes to two days, a few still running)
are stored through the production path, ``SqlUsageStore.store_window`` (usage rows, their
charges and the daily rollup in one transaction per chunk), and an external statement with one
line per project is imported for each pool.

Printed: the ingest rate with charging; the sizes of ``usage_records``, ``charges`` and
``usage_daily``; the report (``accounting.services.report``: ledger balances per pool, chair and
project, consumption from the rollup, the statement and the reconciliation of every line) as
median / p90 / max ms over ``--runs`` warm runs; and, beside it, the naive way: the same
consumption summed straight from the 10M job rows (``GROUP BY`` over ``usage_records``) and from
the charges journal.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from accounting.ingestion import UsageBatch, Window
from accounting.services import import_statement, report
from accounting.usage import UsageRecord
from allocator import services as svc
from allocator.model import (
    MILLI,
    Chair,
    ClusterRoute,
    GpuInventory,
    Pool,
    PoolKind,
    Project,
    ProjectKind,
    Rate,
    Role,
    SlurmAccount,
    User,
)
from allocator.periods import Calendar
from connectors.db.engine import make_engine, make_session_factory
from connectors.db.migrate import upgrade
from connectors.db.uow import SqlUnitOfWork
from connectors.db.usage_store import SqlUsageStore

ADMIN_URL = os.environ.get(
    "GPUHOURS_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DB = "gpuhours_bench_report"
ADMIN = User("admin", Role.ADMIN)
Q4 = datetime(2026, 10, 1, tzinfo=UTC)
Q4_START = int(Q4.timestamp())
Q4_END = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
H = 3600
LATER = datetime(2027, 1, 3, tzinfo=UTC)
CAL = Calendar()


def fresh_database() -> str:
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DB}"))
    admin.dispose()
    return make_engine(ADMIN_URL).url.set(database=DB).render_as_string(False)


def seed(uow: SqlUnitOfWork, projects: int) -> None:
    now = Q4
    with uow:
        uow.users.add(ADMIN)
        uow.commit()
    svc.create_pool(
        uow,
        ADMIN,
        now,
        Pool(
            "local",
            "ENACT local",
            PoolKind.LOCAL,
            "gpu-hour",
            inventory=(GpuInventory("a100", 400), GpuInventory("h100", 200)),
            rates=(Rate("a100", MILLI, EPOCH), Rate("h100", MILLI, EPOCH)),
            routes=(ClusterRoute("enact", ""),),
        ),
    )
    svc.create_pool(
        uow,
        ADMIN,
        now,
        Pool(
            "national",
            "AI Factory grant",
            PoolKind.NATIONAL,
            "normalised-gpu-hour",
            valid_from=datetime(2026, 7, 1, tzinfo=UTC),
            valid_until=datetime(2027, 7, 1, tzinfo=UTC),
            rates=(Rate("a100", 2 * MILLI, EPOCH), Rate("h100", 4 * MILLI, EPOCH)),
            routes=(ClusterRoute("jean-zay", ""),),
        ),
    )
    svc.add_grant(uow, ADMIN, now, "national", 40_000_000 * H, "bench grant", calendar=CAL)
    for c in range(18):
        svc.create_chair(uow, ADMIN, now, Chair(f"chair-{c:02d}", f"Chair {c}"))
    for p in range(projects):
        pid = f"proj-{p:04d}"
        svc.create_project(
            uow,
            ADMIN,
            now,
            Project(
                pid,
                f"chair-{p % 18:02d}",
                f"Project {p}",
                ProjectKind.THESIS,
                "admin",
                slurm_accounts=(SlurmAccount("enact", pid), SlurmAccount("jean-zay", pid)),
            ),
        )
    per_chair = (projects // 18 + 1) * 2_000 * H
    for pool in ("local", "national"):
        for c in range(18):
            svc.allocate_to_chair(
                uow, ADMIN, now, pool, f"chair-{c:02d}", "2026Q4", per_chair, "bench", calendar=CAL
            )
        for p in range(projects):
            svc.allocate_to_project(
                uow, ADMIN, now, pool, f"proj-{p:04d}", "2026Q4", 2_000 * H, "bench", calendar=CAL
            )


def jobs(n: int, projects: int, offset: int = 0, seed_: int = 7) -> list[UsageRecord]:
    rnd = random.Random(seed_)
    out = []
    span = Q4_END - Q4_START - 3 * 86400
    for i in range(n):
        cluster = "enact" if i % 3 else "jean-zay"
        start = Q4_START + rnd.randrange(span)
        elapsed = rnd.choice((300, 1800, 3600, 7200, 4 * H, 12 * H, 30 * H))
        gpus = rnd.choice((1, 1, 1, 2, 4, 8))
        gpu_type = "a100" if i % 4 else "h100"
        running = i % 997 == 0
        out.append(
            UsageRecord(
                cluster,
                offset + i + 1,
                start - 60,
                f"proj-{rnd.randrange(projects):04d}",
                "user",
                "gpu",
                "normal",
                "RUNNING" if running else "COMPLETED",
                start,
                None if running else start + elapsed,
                elapsed,
                gpus,
                ((gpu_type, gpus),),
                alloc_cpus=8 * gpus,
                alloc_mem_mb=64_000 * gpus,
                alloc_nodes=1,
            )
        )
    return out


def ingest(engine: Engine, n: int, projects: int, chunk: int) -> float:
    store = SqlUsageStore(engine)
    now = Q4_END + 86400
    started = time.perf_counter()
    done = 0
    batch_no = 0
    while done < n:
        size = min(chunk, n - done)
        records = jobs(size, projects, offset=done, seed_=batch_no)
        by_cluster: dict[str, list[UsageRecord]] = {}
        for r in records:
            by_cluster.setdefault(r.cluster, []).append(r)
        for cluster, part in by_cluster.items():
            store.store_window(cluster, Window(Q4_START, Q4_END), UsageBatch(part), now, None)
        done += size
        batch_no += 1
        rate = done / (time.perf_counter() - started)
        print(f"  stored {done:>10,} jobs  ({rate:,.0f} jobs/s)", flush=True)
    return time.perf_counter() - started


def statement_csv(engine: Engine, pool: str) -> bytes:
    """One line per project, from our own figures, every tenth off by 5 %."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT account, sum(gpu_seconds), sum(units) FROM usage_daily "
                "WHERE period = '2026Q4' AND pool_id = :p GROUP BY account ORDER BY account"
            ),
            {"p": pool},
        ).all()
    lines = ["project_account,hardware,period,hours_consumed,normalised_hours"]
    for i, (account, secs, units) in enumerate(rows):
        factor = 105 if i % 10 == 0 else 100
        lines.append(f"{account},all,2026Q4,{secs // H},{int(units) * factor // 100 // H}")
    return ("\n".join(lines) + "\n").encode()


def timed(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"median {statistics.median(ms):8.1f} ms   p90 {p90:8.1f} ms   max {ms[-1]:8.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10_000_000)
    ap.add_argument("--projects", type=int, default=500)
    ap.add_argument("--chunk", type=int, default=250_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="reuse the database if already seeded")
    args = ap.parse_args()

    if args.keep:
        url = make_engine(ADMIN_URL).url.set(database=DB).render_as_string(False)
        engine = make_engine(url)
    else:
        url = fresh_database()
        engine = make_engine(url)
        upgrade(engine)
        uow = SqlUnitOfWork(make_session_factory(engine))
        t0 = time.perf_counter()
        seed(uow, args.projects)
        print(f"seeded {args.projects} projects in {time.perf_counter() - t0:.1f} s")
        seconds = ingest(engine, args.jobs, args.projects, args.chunk)
        print(
            f"ingested {args.jobs:,} jobs with charging in {seconds:.0f} s: "
            f"{args.jobs / seconds:,.0f} jobs/s"
        )
        for pool in ("local", "national"):
            import_statement(
                SqlUnitOfWork(make_session_factory(engine)),
                ADMIN,
                datetime(2027, 1, 3, tzinfo=UTC),
                pool,
                "2026Q4",
                "national-csv",
                statement_csv(engine, pool),
                f"{pool}-2026Q4.csv",
                calendar=CAL,
            )
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))

    with engine.connect() as conn:
        for name in ("usage_records", "charges", "usage_daily", "statement_lines"):
            count = conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
            size = conn.execute(
                text("SELECT pg_size_pretty(pg_total_relation_size(:t))"), {"t": name}
            ).scalar_one()
            print(f"  {name:<16} {count:>12,} rows  {size}")
        rollup_q4 = conn.execute(
            text("SELECT count(*) FROM usage_daily WHERE period = '2026Q4'")
        ).scalar_one()
        print(f"  usage_daily rows for 2026Q4: {rollup_q4:,}")

    uow = SqlUnitOfWork(make_session_factory(engine))
    result = report(uow, ADMIN, "2026Q4", now=LATER, calendar=CAL)
    projects = sum(1 for r in result.rows if r.level == "project")
    statuses: dict[str, int] = {}
    for r in result.rows:
        if r.level == "project":
            statuses[r.status] = statuses.get(r.status, 0) + 1
    print(f"report: {len(result.rows)} rows, {projects} project lines, statuses {statuses}")
    report(uow, ADMIN, "2026Q4", now=LATER, calendar=CAL)  # warm
    runs = timed(lambda: report(uow, ADMIN, "2026Q4", now=LATER, calendar=CAL), args.runs)
    print(f"report (rollup)               {summary(runs)}")

    def naive_usage() -> None:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT u.cluster, u.account, sum(u.gpu_seconds) FROM usage_records u "
                    "GROUP BY u.cluster, u.account"
                )
            ).all()

    def naive_charges() -> None:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT c.pool_id, a.project_id, sum(c.units) FILTER (WHERE NOT c.provisional),"
                    " sum(c.units) FILTER (WHERE c.provisional), sum(c.gpu_seconds) "
                    "FROM charges c LEFT JOIN slurm_accounts a "
                    "ON a.cluster = c.cluster AND a.account = c.account "
                    "WHERE c.period = '2026Q4' GROUP BY c.pool_id, a.project_id"
                )
            ).all()

    naive_runs = max(3, args.runs // 5)
    print(f"naive GROUP BY usage_records  {summary(timed(naive_usage, naive_runs))}")
    print(f"naive GROUP BY charges        {summary(timed(naive_charges, naive_runs))}")
    engine.dispose()


if __name__ == "__main__":
    main()
