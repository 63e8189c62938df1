"""The close race, many times over, on PostgreSQL: how many writes got past a close?

A script, not a test (the test ``tests/db/test_close_race.py`` runs it once):
    .venv/bin/python -m tests.bench.race_close [--runs 20] [--writers 20]

Each run empties the database ``gpuhours_bench_race``, seeds the test organisation and races
``--writers`` threads (allocations, transfers, adjustments, grants into 2026Q3) and one of late
usage against the forced close of 2026Q3. A violation is a ledger entry of 2026Q3 dated after
the close, or a figure of the signed report that the live ledger no longer gives. Prints one
line per run and the total; exits 1 if any run had a violation or an error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from sqlalchemy import create_engine, text

from connectors.bootstrap import build
from connectors.db.engine import make_engine
from connectors.db.migrate import upgrade
from connectors.db.tables import Base
from connectors.settings import Settings
from tests.db.test_close_race import race_close

ADMIN_URL = os.environ.get(
    "GPUHOURS_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DB = "gpuhours_bench_race"


def fresh_database() -> str:
    admin = create_engine(
        ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DB}"))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{DB}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--writers", type=int, default=20)
    args = parser.parse_args()
    url = fresh_database()
    engine = make_engine(url, pool_size=args.writers + 10, max_overflow=10)
    upgrade(engine)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    violations = errors = 0
    for run in range(1, args.runs + 1):
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        services = build(Settings(database_url=url), engine=engine)
        started = time.monotonic()
        outcome = race_close(services, writers=args.writers)
        violations += outcome.violations
        errors += len(outcome.errors)
        print(
            f"run {run:2d}: {time.monotonic() - started:5.1f} s, "
            f"written {dict(sorted(outcome.written.items()))}, "
            f"refused {dict(sorted(outcome.refused.items()))}, "
            f"entries after close {outcome.entries_after_close}, "
            f"report mismatches {len(outcome.mismatches)}, errors {len(outcome.errors)}",
            flush=True,
        )
        for line in outcome.mismatches[:5] + outcome.errors[:5]:
            print(f"        {line}")
    engine.dispose()
    print(
        f"{args.runs} runs, {args.writers} writers each: {violations} violations, {errors} errors"
    )
    return 1 if violations or errors else 0


if __name__ == "__main__":
    sys.exit(main())
