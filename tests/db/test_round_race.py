"""A round approved while another admin approves a single request of the same pool, at the
same moment, on two connections: one of them is refused whole, never a partial round, and
the pool is never over-committed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from allocator import services as svc
from allocator.errors import OverCommit
from allocator.ledger import pool_balance
from allocator.model import EntryKind, RequestState
from connectors.bootstrap import build
from connectors.settings import Settings
from tests.builders import ADMIN, ALICE, BOB, CAL, seed_world
from tests.conftest import FixedClock, backends

PERIOD = "2026Q4"


@pytest.mark.parametrize("engine", backends(), indirect=True)
def test_a_round_and_a_single_approval_racing_never_leave_a_partial_round(
    engine: Engine, clock: FixedClock
) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    now = clock()
    seed_world(services.uow(), now)
    with services.uow() as uow:
        capacity = pool_balance(uow.ledger.flows("nat", PERIOD), "nat", PERIOD).capacity
    part = capacity * 4 // 10  # round 0.8 of the pool, the single request 0.4: 1.2 in all
    opened = svc.open_round(
        services.uow(), ADMIN, now, PERIOD, ["nat"], now + timedelta(hours=1), calendar=CAL
    )
    members = [
        svc.submit_request(services.uow(), who, now, p, "nat", [(PERIOD, part)], "r", calendar=CAL)
        for who, p in ((ALICE, "p1"), (BOB, "p2"))
    ]
    # the committee holds p1 at all it asked, whatever the pool has left
    svc.edit_line(services.uow(), ADMIN, now, opened.id, members[0].id, part, "committee")
    later = now + timedelta(hours=2)  # after the deadline: a request decided on its own
    single = svc.submit_request(
        services.uow(), ALICE, later, "p1b", "nat", [(PERIOD, part)], "late", calendar=CAL
    )
    barrier = threading.Barrier(2)

    def approve(what: str) -> str:
        barrier.wait()
        try:
            if what == "round":
                svc.approve_round(services.uow(), ADMIN, later, opened.id, calendar=CAL)
            else:
                svc.approve_request(services.uow(), ADMIN, later, single.id, calendar=CAL)
            return "approved"
        except OverCommit:
            return "refused"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = dict(
            zip(("round", "single"), pool.map(approve, ("round", "single")), strict=True)
        )

    assert sorted(outcomes.values()) == ["approved", "refused"], outcomes
    with services.uow() as uow:
        entries = uow.ledger.entries(pool_id="nat", period=PERIOD)
        flows = uow.ledger.flows("nat", PERIOD)
        shown = uow.rounds.get(opened.id)
        requests = [uow.requests.get(r.id) for r in (*members, single)]
    assert pool_balance(flows, "nat", PERIOD).allocated <= capacity
    to_projects = [
        e for e in entries if e.kind is EntryKind.ALLOCATE and e.target.startswith("project:")
    ]
    in_round = [e for e in to_projects if e.reference == f"round:{opened.id}"]
    assert shown is not None
    if outcomes["round"] == "approved":
        assert shown.approved and {e.request_id for e in in_round} == {r.id for r in members}
        assert requests[2] is not None and requests[2].state is RequestState.SUBMITTED
    else:  # refused whole: not one line of the round written
        assert not shown.approved and in_round == []
        assert [r.state for r in requests if r is not None] == [
            RequestState.SUBMITTED,
            RequestState.SUBMITTED,
            RequestState.APPROVED,
        ]
