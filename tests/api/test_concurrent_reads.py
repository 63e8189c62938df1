"""Balance reads and hour-moving writes at once, through a real HTTP server: readers never wait
for the writer's lock, nothing fails, and the journal adds up afterwards (SQLite and
PostgreSQL). ``tests/bench/bench_sqlite_mix.py`` runs the same mix at 100 readers + 50
writers against ``gpuhours serve``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from allocator.ledger import pool_balance
from allocator.model import EntryKind
from connectors.bootstrap import Services
from connectors.http.app import create_app
from tests.api.conftest import auth
from tests.builders import H, World

PERIOD = "2026Q4"


@contextmanager
def live_server(services: Services) -> Iterator[str]:
    """The API on a free loopback port, served by uvicorn in a thread of this process."""
    config = uvicorn.Config(
        create_app(services=services), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the test server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_balance_read_does_not_wait_for_a_writer(
    client: TestClient, services: Services, world: World
) -> None:
    """A writer holds SQLite's write lock (as an approval does while it checks and appends);
    meanwhile an admin and a researcher read their balances, and get them at once."""
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with services.uow() as uow:
            uow.pools.lock("nat")  # BEGIN IMMEDIATE: the write lock
            held.set()
            release.wait(60)

    answers: list[int] = []

    def reader() -> None:
        for who in ("admin", "alice"):
            r = client.get(f"/api/v1/balances?period={PERIOD}", headers=auth(world, who))
            answers.append(r.status_code)

    w = threading.Thread(target=writer)
    w.start()
    assert held.wait(10)
    r = threading.Thread(target=reader)
    r.start()
    r.join(5)
    finished_beside_the_writer = not r.is_alive()
    release.set()
    w.join(60)
    r.join(60)
    assert finished_beside_the_writer, "a read waited for the writer's lock"
    assert answers == [200, 200]


def test_twenty_readers_and_ten_writers_at_once_all_succeed_and_the_journal_adds_up(
    services: Services, world: World
) -> None:
    readers, writers, reads_each, writes_each = 20, 10, 6, 4
    start = threading.Barrier(readers + writers)
    body = {"pool_id": "nat", "project_id": "p1", "period": PERIOD, "hours": "1",
            "reason": "mix", "draw_from_pool": True}  # fmt: skip

    def read(n: int) -> list[int]:
        who = "alice" if n % 2 else "admin"
        with httpx.Client(base_url=base, headers=auth(world, who), timeout=60) as http:
            start.wait()
            return [
                http.get(f"/api/v1/balances?period={PERIOD}").status_code for _ in range(reads_each)
            ]

    def write(_n: int) -> list[int]:
        with httpx.Client(base_url=base, headers=auth(world, "admin"), timeout=60) as http:
            start.wait()
            return [
                http.post("/api/v1/allocations/projects", json=body).status_code
                for _ in range(writes_each)
            ]

    with live_server(services) as base, ThreadPoolExecutor(readers + writers) as pool:
        reads = [pool.submit(read, n) for n in range(readers)]
        writes = [pool.submit(write, n) for n in range(writers)]
        read_codes = [c for f in reads for c in f.result()]
        write_codes = [c for f in writes for c in f.result()]
        with httpx.Client(base_url=base, headers=auth(world, "admin")) as http:
            rows = http.get(f"/api/v1/balances?period={PERIOD}").json()["items"]

    assert read_codes == [200] * readers * reads_each
    assert write_codes == [201] * writers * writes_each
    granted = writers * writes_each * H
    assert [(r["project_id"], r["allocated_seconds"]) for r in rows] == [("p1", granted)]
    with services.uow() as uow:
        entries = uow.ledger.entries(pool_id="nat", period=PERIOD)
        nat = pool_balance(uow.ledger.flows("nat", PERIOD), "nat", PERIOD)
    allocations = [e for e in entries if e.kind is EntryKind.ALLOCATE]
    assert sum(e.amount for e in allocations if e.target == "project:p1") == granted
    assert sum(e.amount for e in allocations if e.source == "pool:nat") == granted
    assert len(allocations) == 2 * writers * writes_each  # pool -> chair, chair -> project
    assert nat.allocated == granted
    assert nat.unallocated == nat.capacity - granted >= 0
