"""Lending and borrowing inside a chair, through the use cases on the in-memory fakes: the
chair's terms, each move journaled as a ``loan:N`` transfer, recall per the chair's policy,
every loan back at the period's end (once), and what the borrower consumed kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from allocator import services as svc
from allocator.errors import Conflict, Forbidden, InvalidInput, OverCommit
from allocator.ledger import balance, flows_of
from allocator.lending import Limits, ReturnPolicy
from allocator.model import EntryKind, project_account
from tests.builders import ADMIN, ALICE, CAL, ENGINEER, H, seed_world
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
AFTER = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)  # 2026Q4 has ended, not closed
PERIOD = "2026Q4"


class Consumption:
    """What each project consumed: a lookup the use cases take, as the accounting gives it."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, str], tuple[int, int]] = {}

    def __call__(
        self, period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        return self.used


@pytest.fixture
def uow() -> FakeUnitOfWork:
    u = FakeUnitOfWork()
    seed_world(u, NOW)
    for project in ("p1", "p1b"):
        svc.allocate_to_project(
            u, ADMIN, NOW, "nat", project, PERIOD, 100 * H, "start", True, calendar=CAL
        )
    return u


def held(uow: FakeUnitOfWork, project: str) -> int:
    return balance(
        flows_of(e for e in uow.committed_store.ledger if e.period == PERIOD),
        project_account(project),
    )


def chair_total(uow: FakeUnitOfWork) -> int:
    return held(uow, "p1") + held(uow, "p1b")


def lend(uow: FakeUnitOfWork, used: Consumption, amount: int) -> None:
    svc.lend(uow, ADMIN, NOW, "nat", PERIOD, "p1", "p1b", amount, "paper deadline", used,
             calendar=CAL)  # fmt: skip


def test_a_loan_is_one_journaled_transfer_and_the_chair_keeps_its_total() -> None:
    u, used = FakeUnitOfWork(), Consumption()
    seed_world(u, NOW)
    svc.allocate_to_project(u, ADMIN, NOW, "nat", "p1", PERIOD, 100 * H, "x", True, calendar=CAL)
    before = chair_total(u)
    entries = svc.lend(u, ADMIN, NOW, "nat", PERIOD, "p1", "p1b", 30 * H, "paper", used,
                       calendar=CAL)  # fmt: skip
    assert [(e.kind, e.reference, e.amount, e.actor, e.reason) for e in entries] == [
        (EntryKind.TRANSFER, "loan:1", 30 * H, "admin", "paper")
    ]
    assert (held(u, "p1"), held(u, "p1b")) == (70 * H, 30 * H)
    assert chair_total(u) == before
    assert u.committed_store.audit[-1].action == "lending.lent"


def test_a_lender_lends_no_more_than_its_unused_hours(uow: FakeUnitOfWork) -> None:
    used = Consumption()
    used.used[("p1", "nat")] = (60 * H, 10 * H)
    with pytest.raises(OverCommit) as refused:
        lend(uow, used, 31 * H)
    assert (refused.value.field, refused.value.available) == ("hours", 30 * H)
    lend(uow, used, 30 * H)
    assert held(uow, "p1b") == 130 * H


def test_limits_and_policy_are_an_admins_and_are_kept(uow: FakeUnitOfWork) -> None:
    used = Consumption()
    with pytest.raises(Forbidden):
        svc.set_lending_terms(uow, ENGINEER, NOW, "chair-a", ReturnPolicy.RECALL)
    with pytest.raises(InvalidInput) as refused:
        svc.set_lending_terms(uow, ADMIN, NOW, "chair-a", ReturnPolicy.RECALL, [Limits("p2", 1)])
    assert refused.value.field == "limits"
    svc.set_lending_terms(
        uow, ADMIN, NOW, "chair-a", ReturnPolicy.RECALL, [Limits("p1", 20 * H), Limits("p1b")]
    )
    with pytest.raises(OverCommit):
        lend(uow, used, 21 * H)
    lend(uow, used, 20 * H)
    view = svc.lending_view(uow, ENGINEER, NOW, "chair-a", "nat", PERIOD, used, calendar=CAL)
    assert view.terms.policy is ReturnPolicy.RECALL
    assert dict(view.lendable)["p1"] == 0
    assert [(x.lender, x.borrower, x.outstanding) for x in view.loans] == [("p1", "p1b", 20 * H)]


def test_borrowing_takes_from_the_chair_and_not_across_chairs(uow: FakeUnitOfWork) -> None:
    used = Consumption()
    entries = svc.borrow(uow, ADMIN, NOW, "nat", PERIOD, "p1b", 50 * H, "rush", used,
                         calendar=CAL)  # fmt: skip
    assert [(e.source, e.target, e.amount) for e in entries] == [
        ("project:p1", "project:p1b", 50 * H)
    ]
    with pytest.raises(InvalidInput) as refused:
        svc.lend(uow, ADMIN, NOW, "nat", PERIOD, "p1", "p2", H, "x", used, calendar=CAL)
    assert refused.value.field == "borrower"


def test_a_recall_follows_the_chairs_policy(uow: FakeUnitOfWork) -> None:
    used = Consumption()
    lend(uow, used, 40 * H)
    with pytest.raises(Conflict) as refused:
        svc.recall(uow, ADMIN, NOW, "nat", PERIOD, "p1", 10 * H, "need it", used, calendar=CAL)
    assert refused.value.field == "policy"
    svc.set_lending_terms(uow, ADMIN, NOW, "chair-a", ReturnPolicy.RECALL)
    back = svc.recall(uow, ADMIN, NOW, "nat", PERIOD, "p1", 10 * H, "need it", used,
                      calendar=CAL)  # fmt: skip
    assert [(e.reference, e.amount) for e in back] == [("loan:1:return", 10 * H)]
    assert held(uow, "p1") == 70 * H


def test_loans_return_at_the_period_end_once_and_consumed_hours_stay(
    uow: FakeUnitOfWork,
) -> None:
    used = Consumption()
    lend(uow, used, 40 * H)
    with pytest.raises(Conflict) as early:
        svc.return_loans(uow, ADMIN, NOW, "nat", PERIOD, used, calendar=CAL)
    assert early.value.field == "period"
    used.used[("p1b", "nat")] = (125 * H, 0)  # 100 of its own and 25 of the 40 lent
    before = chair_total(uow)
    back = svc.return_loans(uow, ADMIN, AFTER, "nat", PERIOD, used, calendar=CAL)
    assert [(e.reference, e.amount) for e in back] == [("loan:1:return", 15 * H)]
    assert svc.return_loans(uow, ADMIN, AFTER, "nat", PERIOD, used, calendar=CAL) == []
    assert chair_total(uow) == before
    assert held(uow, "p1") == 75 * H


def test_a_loan_needs_a_reason_and_an_admin(uow: FakeUnitOfWork) -> None:
    used = Consumption()
    with pytest.raises(InvalidInput) as refused:
        svc.lend(uow, ADMIN, NOW, "nat", PERIOD, "p1", "p1b", H, " ", used, calendar=CAL)
    assert refused.value.field == "reason"
    with pytest.raises(Forbidden):
        svc.lend(uow, ALICE, NOW, "nat", PERIOD, "p1", "p1b", H, "x", used, calendar=CAL)
    commits = uow.commits
    with pytest.raises(OverCommit):
        lend(uow, used, 1000 * H)
    assert uow.commits == commits
