"""The allocator's use cases, driven through in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from allocator import services as svc
from allocator.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    OutsideValidity,
    OverCommit,
)
from allocator.ledger import balance
from allocator.model import MILLI, EntryKind, Rate, RequestState, SlurmAccount
from allocator.periods import period_of
from allocator.rules import local_capacity
from tests.builders import (
    ADMIN,
    ALICE,
    BOB,
    CAL,
    ENGINEER,
    H,
    World,
    local_pool,
    national_pool,
    seed_world,
)
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def world(uow: FakeUnitOfWork) -> World:
    return seed_world(uow, NOW)


class TestGrants:
    def test_a_national_grant_is_split_over_its_quarters_by_time(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        deposits = [e for e in uow.committed_store.ledger if e.kind is EntryKind.DEPOSIT]
        assert [e.period for e in deposits] == ["2026Q2", "2026Q3", "2026Q4", "2027Q1", "2027Q2"]
        assert sum(e.amount for e in deposits) == world.grant_seconds
        # 2026Q4 holds 92 of the window's 365 days.
        q4 = next(e for e in deposits if e.period == "2026Q4")
        assert q4.amount == world.grant_seconds * 92 // 365

    def test_local_capacity_is_gpus_times_hours_times_availability(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        svc.open_period(uow, ADMIN, NOW, "loc", "2026Q4", calendar=CAL)
        svc.open_period(uow, ADMIN, NOW, "loc", "2026Q4", calendar=CAL)  # idempotent
        deposits = [e for e in uow.committed_store.ledger if e.pool_id == "loc"]
        assert [e.amount for e in deposits] == [2 * 92 * 24 * H]
        assert local_capacity(world.local, period_of("2026Q4")) == 2 * 92 * 24 * H


class TestPoolCreation:
    def test_a_national_pool_and_its_initial_grant_land_together(self, uow: FakeUnitOfWork) -> None:
        pool = svc.create_pool_with_grant(
            uow, ADMIN, NOW, national_pool(id="nat2"), 365 * H, calendar=CAL
        )
        deposits = [e for e in uow.committed_store.ledger if e.pool_id == pool.id]
        assert {e.reason for e in deposits} == {"initial grant"}
        assert sum(e.amount for e in deposits) == 365 * H
        assert uow.commits == 1

    def test_a_refused_initial_grant_leaves_no_pool_behind(self, uow: FakeUnitOfWork) -> None:
        with pytest.raises(InvalidInput):
            svc.create_pool_with_grant(uow, ADMIN, NOW, national_pool(), -H, calendar=CAL)
        assert uow.committed_store.pools == {}
        assert uow.committed_store.audit == []

    def test_a_local_pool_takes_no_grant_its_capacity_is_its_gpus(
        self, uow: FakeUnitOfWork
    ) -> None:
        with pytest.raises(InvalidInput) as err:
            svc.create_pool_with_grant(uow, ADMIN, NOW, local_pool(), H, calendar=CAL)
        assert err.value.field == "grant_hours"
        assert uow.committed_store.pools == {}
        pool = svc.create_pool_with_grant(uow, ADMIN, NOW, local_pool(), None, calendar=CAL)
        assert uow.committed_store.pools == {"loc": pool}
        assert uow.committed_store.ledger == []


class TestAllocations:
    def test_hours_flow_pool_to_chair_to_project(self, uow: FakeUnitOfWork, world: World) -> None:
        svc.allocate_to_chair(
            uow, ADMIN, NOW, "nat", "chair-a", "2026Q4", 500 * H, "budget", calendar=CAL
        )
        svc.allocate_to_project(
            uow, ADMIN, NOW, "nat", "p1", "2026Q4", 300 * H, "thesis", calendar=CAL
        )
        b = svc.project_balances(uow, ADMIN, "p1", "nat", "2026Q4", now=NOW, calendar=CAL)
        (c,) = svc.chair_balances(uow, ADMIN, "chair-a", "nat", "2026Q4", now=NOW, calendar=CAL)
        assert (b.allocated, b.remaining) == (300 * H, 300 * H)
        assert (c.received, c.allocated_to_projects, c.unallocated) == (500 * H, 300 * H, 200 * H)

    def test_a_chair_cannot_give_more_than_it_has(self, uow: FakeUnitOfWork, world: World) -> None:
        svc.allocate_to_chair(
            uow, ADMIN, NOW, "nat", "chair-a", "2026Q4", 100 * H, "budget", calendar=CAL
        )
        before = list(uow.committed_store.ledger)
        with pytest.raises(OverCommit) as err:
            svc.allocate_to_project(
                uow, ADMIN, NOW, "nat", "p1", "2026Q4", 101 * H, "too much", calendar=CAL
            )
        assert err.value.available == 100 * H
        assert uow.committed_store.ledger == before

    def test_a_pool_cannot_give_more_than_its_capacity(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        q4 = world.grant_seconds * 92 // 365
        with pytest.raises(OverCommit):
            svc.allocate_to_chair(
                uow, ADMIN, NOW, "nat", "chair-a", "2026Q4", q4 + 1, "x", calendar=CAL
            )
        svc.allocate_to_chair(
            uow, ADMIN, NOW, "nat", "chair-a", "2026Q4", q4, "all of it", calendar=CAL
        )

    def test_an_admin_over_commit_factor_is_journaled_and_honoured(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        q4 = world.grant_seconds * 92 // 365
        with pytest.raises(InvalidInput):
            svc.set_overcommit(uow, ADMIN, NOW, "nat", 1250, " ")
        svc.set_overcommit(uow, ADMIN, NOW, "nat", 1250, "Jean Zay +25 % low-priority overdraft")
        svc.allocate_to_chair(
            uow, ADMIN, NOW, "nat", "chair-a", "2026Q4", q4 * 5 // 4, "overdraft", calendar=CAL
        )
        with pytest.raises(OverCommit):
            svc.allocate_to_chair(
                uow, ADMIN, NOW, "nat", "chair-b", "2026Q4", H, "beyond", calendar=CAL
            )
        assert [e.action for e in uow.committed_store.audit if e.subject == "pool:nat"] == [
            "pool.created",
            "pool.overcommit_set",
        ]

    def test_periods_outside_a_national_grant_are_refused(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        with pytest.raises(OutsideValidity) as err:
            svc.allocate_to_chair(uow, ADMIN, NOW, "nat", "chair-a", "2028Q1", H, "x", calendar=CAL)
        assert "outside the validity" in str(err.value)

    def test_transfers_stay_inside_one_chair(self, uow: FakeUnitOfWork, world: World) -> None:
        svc.allocate_to_project(
            uow, ADMIN, NOW, "nat", "p1", "2026Q4", 10 * H, "x", True, calendar=CAL
        )
        svc.transfer(
            uow, ADMIN, NOW, "nat", "2026Q4", "p1", "p1b", 4 * H, "rebalance", calendar=CAL
        )
        assert (
            svc.project_balances(
                uow, ADMIN, "p1b", "nat", "2026Q4", now=NOW, calendar=CAL
            ).allocated
            == 4 * H
        )
        with pytest.raises(InvalidInput):
            svc.transfer(
                uow, ADMIN, NOW, "nat", "2026Q4", "p1", "p2", H, "other chair", calendar=CAL
            )
        with pytest.raises(OverCommit):
            svc.transfer(
                uow, ADMIN, NOW, "nat", "2026Q4", "p1", "p1b", 7 * H, "more than held", calendar=CAL
            )

    def test_corrections_are_new_entries_never_edits(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        svc.allocate_to_project(
            uow, ADMIN, NOW, "nat", "p1", "2026Q4", 10 * H, "x", True, calendar=CAL
        )
        first = list(uow.committed_store.ledger)
        svc.adjust(
            uow, ADMIN, NOW, "nat", "p1", "2026Q4", -3 * H, "statement correction", calendar=CAL
        )
        assert uow.committed_store.ledger[: len(first)] == first
        b = svc.project_balances(uow, ADMIN, "p1", "nat", "2026Q4", now=NOW, calendar=CAL)
        assert (b.allocated, b.adjustments, b.remaining) == (10 * H, -3 * H, 7 * H)

    def test_rates_are_effective_dated_and_history_stays(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        change = datetime(2026, 12, 1, tzinfo=UTC)
        pool = svc.set_rate(uow, ADMIN, NOW, "nat", Rate("a100", 3 * MILLI, change))
        assert pool.rate_at("a100", datetime(2026, 11, 30, tzinfo=UTC)) == 2 * MILLI
        assert pool.rate_at("a100", change) == 3 * MILLI
        with pytest.raises(AlreadyExists):
            svc.set_rate(uow, ADMIN, NOW, "nat", Rate("a100", 4 * MILLI, change))
        with pytest.raises(InvalidInput) as err:
            svc.set_rate(
                uow, ADMIN, NOW, "nat", Rate("a100", 4 * MILLI, datetime(2026, 1, 1, tzinfo=UTC))
            )
        assert err.value.field == "effective_from"


class TestRequests:
    def submit(self, uow: FakeUnitOfWork, hours: int = 100) -> int:
        return svc.submit_request(
            uow,
            ALICE,
            NOW,
            "p1",
            "nat",
            [("2026Q4", hours * H), ("2027Q1", hours * H)],
            "thesis",
            calendar=CAL,
        ).id

    def test_full_approval_creates_the_allocations_atomically(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        rid = self.submit(uow)
        r = svc.approve_request(uow, ADMIN, NOW, rid, calendar=CAL)
        assert r.state is RequestState.APPROVED
        entries = [e for e in uow.committed_store.ledger if e.request_id == rid]
        assert {(e.period, e.target, e.amount) for e in entries} == {
            ("2026Q4", "chair:chair-a", 100 * H),
            ("2026Q4", "project:p1", 100 * H),
            ("2027Q1", "chair:chair-a", 100 * H),
            ("2027Q1", "project:p1", 100 * H),
        }

    def test_partial_approval_and_over_commit_leave_nothing_half_written(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        rid = self.submit(uow, hours=10**6)  # far more than the grant
        before = list(uow.committed_store.ledger)
        with pytest.raises(OverCommit):
            svc.approve_request(uow, ADMIN, NOW, rid, calendar=CAL)
        assert uow.committed_store.ledger == before
        assert uow.committed_store.requests[rid].state is RequestState.SUBMITTED
        r = svc.approve_request(
            uow, ADMIN, NOW, rid, [("2026Q4", 5 * H), ("2027Q1", 0)], "part", calendar=CAL
        )
        assert r.state is RequestState.PARTIALLY_APPROVED
        assert r.granted_total == 5 * H

    def test_states_and_transitions_are_explicit(self, uow: FakeUnitOfWork, world: World) -> None:
        rid = self.submit(uow)
        with pytest.raises(Forbidden):
            svc.approve_request(uow, ALICE, NOW, rid, calendar=CAL)
        with pytest.raises(InvalidInput):
            svc.reject_request(uow, ADMIN, NOW, rid, "")
        svc.comment_request(uow, ENGINEER, NOW, rid, "looks reasonable")
        svc.reject_request(uow, ADMIN, NOW, rid, "no budget left")
        for action in (
            lambda: svc.approve_request(uow, ADMIN, NOW, rid, calendar=CAL),
            lambda: svc.withdraw_request(uow, ALICE, NOW, rid),
            lambda: svc.comment_request(uow, ENGINEER, NOW, rid, "late"),
        ):
            with pytest.raises(InvalidTransition):
                action()

    def test_only_the_requester_or_an_admin_withdraws(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        rid = self.submit(uow)
        with pytest.raises((Forbidden, NotFound)):
            svc.withdraw_request(uow, BOB, NOW, rid)
        assert svc.withdraw_request(uow, ALICE, NOW, rid).state is RequestState.WITHDRAWN

    def test_researchers_only_see_their_projects(self, uow: FakeUnitOfWork, world: World) -> None:
        assert {p.id for p in svc.list_projects(uow, ALICE)} == {"p1", "p1b"}
        with pytest.raises(NotFound):
            svc.submit_request(
                uow, ALICE, NOW, "p2", "nat", [("2026Q4", H)], "not mine", calendar=CAL
            )


class TestSlurmMappings:
    def test_one_project_per_slurm_account_and_cluster(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        with pytest.raises(AlreadyExists):
            svc.map_slurm_account(uow, ENGINEER, NOW, "p2", SlurmAccount("enact-dev", "acct-p1"))
        svc.map_slurm_account(uow, ENGINEER, NOW, "p2", SlurmAccount("jean-zay", "acct-p1"))
        with pytest.raises(Forbidden):
            svc.map_slurm_account(uow, ALICE, NOW, "p1", SlurmAccount("jean-zay", "x"))


def test_balances_are_sums_of_the_journal(uow: FakeUnitOfWork, world: World) -> None:
    svc.allocate_to_project(uow, ADMIN, NOW, "nat", "p1", "2026Q4", 10 * H, "x", True, calendar=CAL)
    with uow:
        f = uow.ledger.flows("nat", "2026Q4")
    assert balance(f, "project:p1") == 10 * H


class TestStaffReads:
    def test_only_staff_read_the_users_and_the_audit_trail(
        self, uow: FakeUnitOfWork, world: World
    ) -> None:
        for read in (
            lambda: svc.list_users(uow, ALICE),
            lambda: svc.audit_trail(uow, ALICE),
        ):
            with pytest.raises(Forbidden):
                read()
        assert [u.username for u in svc.list_users(uow, ENGINEER)] == sorted(
            u.username for u in uow.committed_store.users.values()
        )
        trail = svc.audit_trail(uow, ENGINEER, "pool:nat")
        assert [(e.actor, e.action) for e in trail] == [("admin", "pool.created")]
        assert len(svc.audit_trail(uow, ADMIN)) == len(uow.committed_store.audit)

    def test_anyone_reads_the_pools(self, uow: FakeUnitOfWork, world: World) -> None:
        assert [p.id for p in svc.list_pools(uow, ALICE)] == ["loc", "nat"]
