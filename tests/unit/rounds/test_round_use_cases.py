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
from allocator.model import AllocationRequest, RequestState
from allocator.round_model import RoundState
from tests.builders import ADMIN, ALICE, BOB, CAL, ENGINEER, H, seed_world
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
