"""What a token check costs now that nothing is cached, and what a guesser gets.

A script, not a test:
    .venv/bin/python -m tests.bench.bench_auth [--tokens 10000] [--calls 3000] [--threads 4]

On SQLite (a temporary file) and, when ``GPUHOURS_TEST_DATABASE_URL`` is set, on a fresh
PostgreSQL database of its own: stores ``--tokens`` tokens, then times

- ``TokenAuthenticator.authenticate`` of one valid token, sequentially (median, p99): the
  single query by the unique ``token_hash`` index that every request now makes;
- the same from ``--threads`` threads at once (calls/s), as the API's thread pool does;
- the statements sent: one SELECT per call and a single ``last_used_at`` UPDATE for the whole
  run (at most one a minute per token);
- 500 random tokens sent to the app from one address: how many reached the database before
  the throttle answered 429, and the time taken (the finding: 0.8 s, 500 look-ups).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.pool import NullPool

from allocator import services as svc
from allocator.model import Role, User
from connectors.auth import TokenAuthenticator, hash_token, new_token
from connectors.bootstrap import Services, build
from connectors.db import tables as t
from connectors.db.engine import make_engine
from connectors.db.migrate import upgrade
from connectors.http.app import create_app
from connectors.settings import Settings
from connectors.tokens import mint_token

ADMIN = User("admin", Role.ADMIN)


def seed_tokens(engine: Engine, count: int, now: datetime) -> None:
    rows = [
        {
            "token_hash": hash_token(tok),
            "prefix": tok[:12],
            "username": "admin",
            "created_at": now,
            "expires_at": now + timedelta(days=90),
            "note": "bench",
        }
        for tok in (new_token() for _ in range(count))
    ]
    with engine.begin() as conn:
        conn.execute(insert(t.ApiTokenRow), rows)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(name: str, url: str, tokens: int, calls: int, threads: int) -> None:
    services = build(Settings(database_url=url))
    engine = services.engine
    upgrade(engine)
    now = datetime.now(UTC)
    svc.create_user(services.uow(), ADMIN, now, ADMIN)
    seed_tokens(engine, tokens, now)
    token = mint_token(services.session_factory, "admin", now, expires_at=now + timedelta(1))
    auth = TokenAuthenticator(services.session_factory)

    statements: list[str] = []

    def record(*args: object) -> None:
        sql = str(args[2])
        if "api_tokens" in sql:
            statements.append(sql.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    for _ in range(50):  # warm the pool and the statement cache
        auth.authenticate(token)
    timings = []
    for _ in range(calls):
        start = time.perf_counter()
        assert auth.authenticate(token) is not None
        timings.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda _: auth.authenticate(token), range(calls)))
    parallel = calls / (time.perf_counter() - start)
    assert all(r is not None for r in results)
    event.remove(engine, "before_cursor_execute", record)

    start = time.perf_counter()
    for _ in range(calls):
        hash_token(token)
    hashing = (time.perf_counter() - start) / calls * 1000

    print(f"\n{name}: {tokens:,} tokens stored")
    print(
        f"  authenticate, sequential: median {statistics.median(timings):.3f} ms,"
        f" p99 {percentile(timings, 0.99):.3f} ms (SHA-256 alone {hashing * 1000:.1f} µs)"
    )
    print(f"  authenticate, {threads} threads: {parallel:,.0f} calls/s")
    print(
        f"  statements on api_tokens for {2 * calls + 50:,} calls:"
        f" {statements.count('SELECT'):,} SELECT, {statements.count('UPDATE')} UPDATE"
    )
    guesses(services)
    engine.dispose()


def guesses(services: Services) -> None:
    lookups: list[str] = []

    def record(*args: object) -> None:
        if "api_tokens" in str(args[2]):
            lookups.append("x")

    event.listen(services.engine, "before_cursor_execute", record)
    codes: dict[int, int] = {}
    with TestClient(create_app(services=services)) as client:
        start = time.perf_counter()
        for _ in range(500):
            guess = "gph_" + secrets.token_urlsafe(32)
            r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {guess}"})
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
        took = time.perf_counter() - start
    event.remove(services.engine, "before_cursor_execute", record)
    print(
        f"  500 random tokens from one address: {took:.2f} s, answers {codes},"
        f" {len(lookups)} database look-ups"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=3_000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        run("SQLite", url, args.tokens, args.calls, args.threads)
    pg = os.environ.get("GPUHOURS_TEST_DATABASE_URL", "")
    if not pg:
        print("\nPostgreSQL: set GPUHOURS_TEST_DATABASE_URL to measure it too")
        return
    server = make_engine(pg, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"gpuhours_bench_auth_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = server.url.set(database=name).render_as_string(hide_password=False)
        run("PostgreSQL", url, args.tokens, args.calls, args.threads)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


if __name__ == "__main__":
    main()
