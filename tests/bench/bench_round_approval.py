"""A round's page and its approval, timed on SQLite (and on PostgreSQL when
``GPUHOURS_TEST_DATABASE_URL`` is set: a database of its own, dropped after).

A script, not a test:
    .venv/bin/python -m tests.bench.bench_round_approval [--requests 500]

Seeds a national pool, 18 chairs of 10 projects and ``--requests`` requests for the period
(1.5 times what the pool holds), opens a round over it, then times ``show_round`` (demand and
the proposal, as the API's ``GET /rounds/{id}`` computes them; median of 5) and the one
transaction of ``approve_round`` (every line an allocation journaled ``round:N``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from allocator import services as svc
from allocator.ledger import pool_balance
from allocator.model import Chair, Project, ProjectKind
from connectors.bootstrap import build
from connectors.db.engine import make_engine
from connectors.db.migrate import upgrade
from connectors.settings import Settings
from tests.builders import ADMIN, CAL, seed_world
from tests.conftest import NOW

PERIOD = "2026Q4"


def _databases() -> Iterator[tuple[str, Engine]]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        yield "sqlite", engine
        engine.dispose()
    url = os.environ.get("GPUHOURS_TEST_DATABASE_URL")
    if not url:
        return
    server = make_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"gpuhours_bench_rounds_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(server.url.set(database=name).render_as_string(False))
    try:
        upgrade(engine)
        yield "postgresql", engine
    finally:
        engine.dispose()
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def bench(backend: str, engine: Engine, requests: int) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    seed_world(services.uow(), NOW)
    with services.uow() as uow:
        supply = pool_balance(uow.ledger.flows("nat", PERIOD), "nat", PERIOD).capacity
    projects = []
    for c in range(18):
        svc.create_chair(services.uow(), ADMIN, NOW, Chair(f"chair-{c:02d}", f"Chair {c}"))
        for p in range(10):
            project = Project(f"proj-{c:02d}-{p}", f"chair-{c:02d}", "p", ProjectKind.RND, "alice")
            svc.create_project(services.uow(), ADMIN, NOW, project)
            projects.append(project.id)
    ask = supply * 3 // 2 // requests
    opened = svc.open_round(
        services.uow(), ADMIN, NOW, PERIOD, ["nat"], NOW + timedelta(hours=1), calendar=CAL
    )
    for i in range(requests):
        project = projects[(i * 7) % len(projects)]
        svc.submit_request(
            services.uow(), ADMIN, NOW, project, "nat", [(PERIOD, ask + i)], "x", calendar=CAL
        )
    later = NOW + timedelta(hours=2)
    shows = []
    for _ in range(5):
        start = time.perf_counter()
        shown = svc.show_round(services.uow(read_only=True), ADMIN, later, opened.id, calendar=CAL)
        shows.append(time.perf_counter() - start)
    assert shown.lines is not None and len(shown.lines) == requests
    start = time.perf_counter()
    svc.approve_round(services.uow(), ADMIN, later, opened.id, calendar=CAL)
    approval = time.perf_counter() - start
    print(
        f"{backend}: {requests} requests, 18 chairs, 180 projects, 1 pool (asked 1.5 x supply):"
        f" show_round median {statistics.median(shows) * 1000:.0f} ms,"
        f" approve_round {approval * 1000:.0f} ms (one transaction)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    for backend, engine in _databases():
        bench(backend, engine, args.requests)


if __name__ == "__main__":
    main()
