"""50 concurrent approvals on real database connections never over-commit a pool: on
PostgreSQL (the pool's row lock) and on SQLite (writers begin IMMEDIATE)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from allocator import services as svc
from allocator.errors import OverCommit
from allocator.ledger import pool_balance
from allocator.model import EntryKind, RequestState
from connectors.bootstrap import build
from connectors.settings import Settings
from tests.builders import ADMIN, ALICE, CAL, H, seed_world
from tests.conftest import FixedClock, backends


@pytest.mark.parametrize("engine", backends(), indirect=True)
def test_fifty_concurrent_approvals_never_over_commit(engine: Engine, clock: FixedClock) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    now = clock()
    # The national pool holds 10,000 h over 12 months; its 2026Q4 share is 2,520 h.
    world = seed_world(services.uow(), now)
    period = "2026Q4"
    with services.uow() as uow:
        capacity = pool_balance(uow.ledger.flows(world.national.id, period), "nat", period).capacity
    assert capacity > 0
    per_request = 100 * H
    requests = [
        svc.submit_request(
            services.uow(), ALICE, now, "p1", "nat", [(period, per_request)], f"r{i}", calendar=CAL
        )
        for i in range(50)
    ]
    assert 50 * per_request > capacity  # together they exceed the pool

    barrier = threading.Barrier(50)
    outcomes: list[str] = []

    def approve(request_id: int) -> str:
        barrier.wait()
        try:
            svc.approve_request(services.uow(), ADMIN, now, request_id, calendar=CAL)
            return "approved"
        except OverCommit:
            return "refused"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(approve, [r.id for r in requests]))

    approved = outcomes.count("approved")
    assert approved == capacity // per_request
    assert outcomes.count("refused") == 50 - approved

    with services.uow() as uow:
        entries = uow.ledger.entries(pool_id="nat", period=period)
        balance = pool_balance(uow.ledger.flows("nat", period), "nat", period)
        states = [uow.requests.get(r.id).state for r in requests]  # type: ignore[union-attr]
    allocated_to_chair = sum(
        e.amount for e in entries if e.kind is EntryKind.ALLOCATE and e.source == "pool:nat"
    )
    allocated_to_project = sum(
        e.amount for e in entries if e.kind is EntryKind.ALLOCATE and e.target == "project:p1"
    )
    assert allocated_to_chair == allocated_to_project == approved * per_request
    assert allocated_to_chair <= capacity
    assert balance.unallocated == capacity - approved * per_request >= 0
    assert states.count(RequestState.APPROVED) == approved
    assert states.count(RequestState.SUBMITTED) == 50 - approved
