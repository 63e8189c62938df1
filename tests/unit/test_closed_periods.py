"""Closed periods and the period vocabulary in the core, through the in-memory fakes.

Every use case that writes an amount into a period takes its pool's lock, then the close lock
(which a close takes exclusively), and only then reads whether the period is closed: a close
either waits for the write or the write sees the close. Locks are always taken in that order
(pools by id, then the close lock), so writers and a close never deadlock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from allocator import services as svc
from allocator.errors import InvalidInput, PeriodIsClosed
from allocator.periods import Calendar, PeriodScheme
from tests.builders import ADMIN, ALICE, CAL, H, World, seed_world
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
Q3 = "2026Q3"


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def world(uow: FakeUnitOfWork) -> World:
    world = seed_world(uow, NOW)
    for period in (Q3, "2026Q4"):
        for pool in ("nat", "loc"):
            svc.allocate_to_project(
                uow, ADMIN, NOW, pool, "p1", period, 10 * H, "hours", True, calendar=CAL
            )
    return world


WRITERS: dict[str, Callable[[FakeUnitOfWork, str], object]] = {
    "allocation to a chair": lambda uow, p: svc.allocate_to_chair(
        uow, ADMIN, NOW, "nat", "chair-a", p, H, "x", calendar=CAL
    ),
    "allocation to a project": lambda uow, p: svc.allocate_to_project(
        uow, ADMIN, NOW, "nat", "p1", p, H, "x", True, calendar=CAL
    ),
    "release": lambda uow, p: svc.release(uow, ADMIN, NOW, "nat", "p1", p, H, "x", calendar=CAL),
    "transfer": lambda uow, p: svc.transfer(
        uow, ADMIN, NOW, "nat", p, "p1", "p1b", H, "x", calendar=CAL
    ),
    "adjustment": lambda uow, p: svc.adjust(uow, ADMIN, NOW, "nat", "p1", p, -H, "x", calendar=CAL),
    "local capacity": lambda uow, p: svc.open_period(uow, ADMIN, NOW, "loc", p, calendar=CAL),
    "grant": lambda uow, p: svc.add_grant(
        uow,
        ADMIN,
        NOW,
        "nat",
        H,
        "x",
        calendar=CAL,
        start=CAL.period(p).start,
        end=CAL.period(p).end,
    ),
    "approval": lambda uow, p: _approve(uow, p),
}


def _approve(uow: FakeUnitOfWork, period: str) -> object:
    """A request submitted before the period was closed, approved after."""
    closed = set(uow.committed_store.closed)
    uow.committed_store.closed.clear()
    try:
        request = svc.submit_request(uow, ALICE, NOW, "p1", "nat", [(period, H)], "x", calendar=CAL)
    finally:
        uow.committed_store.closed |= closed
    uow.events.clear()
    return svc.approve_request(uow, ADMIN, NOW, request.id, calendar=CAL)


@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_reads_closed_only_under_the_close_lock_taken_after_the_pool_lock(
    uow: FakeUnitOfWork, world: World, writer: str
) -> None:
    uow.events.clear()
    WRITERS[writer](uow, "2026Q4")
    events = uow.events
    assert ("is_closed", "2026Q4") in events, events
    first_check = events.index(("is_closed", "2026Q4"))
    assert ("close_lock", "shared") in events[:first_check], events
    lock_at = events.index(("close_lock", "shared"))
    pool_locks = [i for i, e in enumerate(events) if e[0] == "pool_lock"]
    assert pool_locks and max(pool_locks) < lock_at, events  # pools first, then the close lock


@pytest.mark.parametrize("writer", WRITERS)
def test_nothing_is_written_into_a_closed_period(
    uow: FakeUnitOfWork, world: World, writer: str
) -> None:
    uow.committed_store.closed.add(Q3)
    before = list(uow.committed_store.ledger)
    with pytest.raises(PeriodIsClosed) as err:
        WRITERS[writer](uow, Q3)
    assert Q3 in err.value.message
    assert uow.committed_store.ledger == before


def test_a_grant_over_a_closed_period_is_refused_whole_naming_the_period(
    uow: FakeUnitOfWork, world: World
) -> None:
    """A grant is what the centre granted for its window: depositing only the open periods'
    share would silently drop hours; the administrator gives a window after the close."""
    uow.committed_store.closed.add(Q3)
    before = list(uow.committed_store.ledger)
    with pytest.raises(PeriodIsClosed) as err:
        svc.add_grant(uow, ADMIN, NOW, "nat", 100 * H, "top-up", calendar=CAL)
    assert err.value.field == "start"
    assert "2026Q3 is closed" in err.value.message and "2026-10-01" in err.value.message
    assert uow.committed_store.ledger == before
    entries = svc.add_grant(
        uow, ADMIN, NOW, "nat", 100 * H, "top-up", calendar=CAL, start=CAL.period("2026Q4").start
    )
    assert [e.period for e in entries] == ["2026Q4", "2027Q1", "2027Q2"]
    assert sum(e.amount for e in entries) == 100 * H


@pytest.mark.parametrize("label", ["2026", "2026-10", "0001Q1", "1970Q1", "9999Q4"])
@pytest.mark.parametrize("writer", [w for w in WRITERS if w != "grant"])  # a grant takes times
def test_every_writer_refuses_labels_of_another_scheme_or_far_off(
    uow: FakeUnitOfWork, world: World, writer: str, label: str
) -> None:
    before = list(uow.committed_store.ledger)
    with pytest.raises(InvalidInput) as err:
        WRITERS[writer](uow, label)
    assert err.value.field in ("period", "periods")
    assert "quarter" in err.value.reason
    assert uow.committed_store.ledger == before


def test_reads_take_the_site_calendar_too(uow: FakeUnitOfWork, world: World) -> None:
    for read in (
        lambda p: svc.pool_balances(uow, ADMIN, "nat", p, now=NOW, calendar=CAL),
        lambda p: svc.chair_balances(uow, ADMIN, "chair-a", "nat", p, now=NOW, calendar=CAL),
        lambda p: svc.project_balances(uow, ADMIN, "p1", "nat", p, now=NOW, calendar=CAL),
        lambda p: svc.visible_balances(
            svc.reads_in(uow, lambda *_: {}), ADMIN, p, None, now=NOW, calendar=CAL
        ),
    ):
        read("2026Q4")
        with pytest.raises(InvalidInput, match="quarters, labelled like 2026Q3"):
            read("2026-10")
        with pytest.raises(InvalidInput, match="out of range"):
            read("9999Q4")


def test_a_month_site_allocates_by_month(uow: FakeUnitOfWork) -> None:
    months = Calendar(PeriodScheme.MONTH)
    seed_world(uow, NOW, calendar=months)
    svc.allocate_to_chair(uow, ADMIN, NOW, "loc", "chair-a", "2026-11", H, "x", calendar=months)
    with pytest.raises(InvalidInput, match="months"):
        svc.allocate_to_chair(uow, ADMIN, NOW, "loc", "chair-a", "2026Q4", H, "x", calendar=months)
    deposits = {e.period for e in uow.committed_store.ledger if e.pool_id == "loc"}
    assert deposits == {"2026-11"}
