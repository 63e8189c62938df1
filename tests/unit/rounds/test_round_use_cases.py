"""Allocation rounds through the use cases on the in-memory fakes (the database tests are
beside: ``tests/db/test_round_race.py``, ``tests/api/test_rounds.py``): a round opened over
the national pool, requests joining until the deadline, the chairs weighed and a thesis
guaranteed, an admin's edit, then the whole round approved in one commit with every
allocation journaled ``round:N``; an over-committed round refused whole, nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from allocator import services as svc
from allocator.errors import Conflict, Forbidden, InvalidInput, OverCommit
from allocator.model import MILLI, AllocationRequest, GpuInventory, Rate, RequestState
from allocator.round_model import RoundState
from tests.builders import ADMIN, ALICE, BOB, CAL, ENGINEER, EPOCH, H, local_pool, seed_world
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
DEADLINE = NOW + timedelta(days=1)
LATER = NOW + timedelta(days=2)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    u = FakeUnitOfWork()
    seed_world(u, NOW)
    return u


def ask(uow: FakeUnitOfWork, who: str, project: str, amount: int, at: datetime = NOW) -> int:
    user = BOB if who == "bob" else ALICE
    made: AllocationRequest = svc.submit_request(
        uow, user, at, project, "nat", [("2026Q4", amount)], "experiments", calendar=CAL
    )
    return made.id


def supply(uow: FakeUnitOfWork, round_id: int) -> int:
    shown = svc.show_round(uow, ADMIN, LATER, round_id, calendar=CAL)
    assert shown.demand is not None
    (total,) = [d for d in shown.demand if not d.chair_id]
    return total.available


def test_a_round_from_opening_to_approval_in_one_commit(uow: FakeUnitOfWork) -> None:
    opened = svc.open_round(uow, ADMIN, NOW, "2026Q4", ["nat"], DEADLINE, calendar=CAL)
    hours = supply(uow, opened.id) // H
    ids = {
        "p1": ask(uow, "alice", "p1", hours // 2 * H),
        "p1b": ask(uow, "alice", "p1b", hours // 2 * H),
        "p2": ask(uow, "bob", "p2", hours * 6 // 10 * H),
    }
    late = ask(uow, "bob", "p2", H, at=DEADLINE + timedelta(minutes=1))
    early = svc.show_round(uow, ENGINEER, NOW, opened.id, calendar=CAL)
    assert early.state is RoundState.OPEN and early.lines is None  # staff wait for the deadline
    assert sorted(r.id for r in early.members) == sorted(ids.values())
    assert late not in {r.id for r in early.members}

    with pytest.raises(Forbidden):
        svc.set_weights(uow, ENGINEER, NOW, opened.id, [("chair-b", 2)])
    svc.set_weights(uow, ADMIN, NOW, opened.id, [("chair-b", 2)])
    svc.set_minimum(uow, ADMIN, NOW, opened.id, ids["p1"], hours * 4 // 10 * H, "thesis")
    with pytest.raises(InvalidInput) as refused:
        svc.edit_line(uow, ADMIN, NOW, opened.id, ids["p2"], hours * H, "all of it")
    assert refused.value.field == "hours"
    svc.edit_line(uow, ADMIN, NOW, opened.id, ids["p2"], 1000 * H, "has Q3 hours left")

    with pytest.raises(Conflict) as early_approval:
        svc.approve_round(uow, ADMIN, NOW, opened.id, calendar=CAL)
    assert early_approval.value.field == "deadline"
    commits = uow.commits
    approved = svc.approve_round(uow, ADMIN, LATER, opened.id, "committee", calendar=CAL)
    assert uow.commits == commits + 1
    lines = {x.request_id: x for x in approved.lines}
    assert lines[ids["p2"]].amount == 1000 * H and lines[ids["p2"]].edited
    assert lines[ids["p1"]].amount >= hours * 4 // 10 * H  # the thesis minimum held
    assert sum(x.amount for x in approved.lines) <= hours * H
    journaled = [e for e in uow.committed_store.ledger if e.reference == f"round:{opened.id}"]
    to_projects = {e.target: e.amount for e in journaled if e.target.startswith("project:")}
    assert to_projects == {f"project:{p}": lines[i].amount for p, i in ids.items()}
    states = {i: uow.committed_store.requests[i].state for i in ids.values()}
    assert set(states.values()) <= {RequestState.APPROVED, RequestState.PARTIALLY_APPROVED}
    with pytest.raises(Conflict):
        svc.approve_round(uow, ADMIN, LATER, opened.id, calendar=CAL)


def test_an_over_committed_round_is_refused_whole_and_nothing_is_written(
    uow: FakeUnitOfWork,
) -> None:
    opened = svc.open_round(uow, ADMIN, NOW, "2026Q4", ["nat"], DEADLINE, calendar=CAL)
    hours = supply(uow, opened.id) // H
    first = ask(uow, "alice", "p1", hours * H)
    ask(uow, "bob", "p2", hours * H)
    svc.edit_line(uow, ADMIN, NOW, opened.id, first, hours * H, "all to the thesis")
    before = (len(uow.committed_store.ledger), uow.commits)
    with pytest.raises(OverCommit):
        svc.approve_round(uow, ADMIN, LATER, opened.id, calendar=CAL)
    assert (len(uow.committed_store.ledger), uow.commits) == before
    assert not uow.committed_store.rounds[opened.id].approved


def test_a_second_round_over_the_same_pool_and_period_is_refused(uow: FakeUnitOfWork) -> None:
    svc.open_round(uow, ADMIN, NOW, "2026Q4", ["nat"], DEADLINE, calendar=CAL)
    with pytest.raises(Conflict) as refused:
        svc.open_round(uow, ADMIN, NOW, "2026Q4", ["nat", "loc"], DEADLINE, calendar=CAL)
    assert refused.value.field == "pool_ids"


def test_a_stored_round_caps_an_h100_request_at_the_h100_the_pool_has_left(
    uow: FakeUnitOfWork,
) -> None:
    """lab holds 4 a100 and 1 h100 over 2026Q4 (92 days: 2 208 h per GPU); 1 000 h of h100 are
    already approved to p1. In the round, bob's 3 000 h of h100 get the 1 208 h of h100 left,
    though the pool has hours to spare; alice's 2 000 h of a100 get what she asked."""
    svc.create_pool(
        uow,
        ADMIN,
        NOW,
        local_pool(
            id="lab",
            inventory=(GpuInventory("a100", 4), GpuInventory("h100", 1)),
            rates=(Rate("a100", MILLI, EPOCH), Rate("h100", MILLI, EPOCH)),
            routes=(),
        ),
    )
    before = svc.submit_request(
        uow, ALICE, NOW, "p1", "lab", [("2026Q4", 1_000 * H)], "earlier", "h100", calendar=CAL
    )
    svc.approve_request(uow, ADMIN, NOW, before.id, calendar=CAL)
    opened = svc.open_round(uow, ADMIN, NOW, "2026Q4", ["lab"], DEADLINE, calendar=CAL)
    h100 = svc.submit_request(
        uow, BOB, NOW, "p2", "lab", [("2026Q4", 3_000 * H)], "llm", "h100", calendar=CAL
    )
    a100 = svc.submit_request(
        uow, ALICE, NOW, "p1b", "lab", [("2026Q4", 2_000 * H)], "vision", "a100", calendar=CAL
    )

    shown = svc.show_round(uow, ADMIN, LATER, opened.id, calendar=CAL)
    assert shown.demand is not None
    totals = {d.gpu_type: (d.requested, d.available) for d in shown.demand if not d.chair_id}
    assert totals == {
        "": (5_000 * H, (5 * 2_208 - 1_000) * H),  # the pool's headroom, over every type
        "a100": (2_000 * H, 4 * 2_208 * H),
        "h100": (3_000 * H, 1_208 * H),
    }
    approved = svc.approve_round(uow, ADMIN, LATER, opened.id, calendar=CAL)
    lines = {x.request_id: x for x in approved.lines}
    assert lines[h100.id].amount == 1_208 * H
    assert "supply of h100 in pool lab" in lines[h100.id].explanation
    assert lines[a100.id].amount == 2_000 * H
    assert uow.committed_store.requests[a100.id].state is RequestState.APPROVED
    assert uow.committed_store.requests[h100.id].state is RequestState.PARTIALLY_APPROVED


def test_the_pools_headroom_caps_its_typed_and_untyped_requests_together(
    uow: FakeUnitOfWork,
) -> None:
    """loc holds 2 a100 (4 416 h, its whole headroom). p1 and p2 ask 3 000 h of a100 each and
    p2 3 000 h of any type: the a100 supply gives the a100 requests 2 208 h each, but the pool
    has 4 416 h in all, so chair-b's 2 208 h are shared between p2's two requests."""
    opened = svc.open_round(uow, ADMIN, NOW, "2026Q4", ["loc"], DEADLINE, calendar=CAL)
    ids = [
        svc.submit_request(
            uow, user, NOW, project, "loc", [("2026Q4", 3_000 * H)], "x", gpu_type, calendar=CAL
        ).id
        for user, project, gpu_type in (
            (ALICE, "p1", "a100"),
            (BOB, "p2", "a100"),
            (BOB, "p2", None),
        )
    ]
    approved = svc.approve_round(uow, ADMIN, LATER, opened.id, calendar=CAL)
    lines = {x.request_id: x for x in approved.lines}
    assert [lines[i].amount for i in ids] == [2_208 * H, 1_104 * H, 1_104 * H]
    assert "of all GPU types in pool loc" in lines[ids[2]].explanation
