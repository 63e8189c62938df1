"""The scheduled housekeeping, on in-memory fakes: the rollup check, the reminders, the
automatic close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from accounting import services as acc
from accounting.charging import local_days
from allocator import services as svc
from tests.builders import ADMIN, CAL, H
from tests.fakes_accounting import FakeAccountingUnitOfWork
from tests.unit.accounting.services.quarter_world import NOW, Q3, Q4, consumed, national

TODAY = local_days(CAL).of(int(NOW.timestamp()))


def key(day: int, account: str = "acct-p1") -> tuple[object, ...]:
    """A daily rollup key: period, pool, cluster, account, day, type, provisional, late, priced."""
    return (Q4, "loc", "enact-dev", account, day, "a100", False, False, True)


def test_rollups_in_step_with_the_journal_are_left_alone(uow: FakeAccountingUnitOfWork) -> None:
    store = uow.committed_store
    store.journal = store.rollup = {key(TODAY): (3600, 3600, 1)}
    assert acc.check_rollups(uow, NOW) == 0
    assert store.rebuilt_periods == []
    assert not [e for e in store.audit if e.action == "rollup.repaired"]


def test_a_drifted_rollup_row_is_rebuilt_from_the_journal_and_said(
    uow: FakeAccountingUnitOfWork,
) -> None:
    store = uow.committed_store
    store.journal = {key(TODAY): (3600, 3600, 1), key(TODAY - 1, "acct-p2"): (60, 60, 1)}
    store.rollup = {
        key(TODAY): (3600, 3605, 1),  # drifted
        key(TODAY - 1, "acct-p2"): (60, 60, 1),
        key(TODAY - 2, "gone"): (5, 5, 1),  # not in the journal any more
        key(TODAY - 30): (1, 1, 1),  # older than the days checked
    }
    assert acc.check_rollups(uow, NOW, days=3) == 2
    store = uow.committed_store
    assert store.rollup == {
        key(TODAY): (3600, 3600, 1),
        key(TODAY - 1, "acct-p2"): (60, 60, 1),
        key(TODAY - 30): (1, 1, 1),
    }
    assert store.rebuilt_periods == [Q4]
    [event] = [e for e in store.audit if e.action == "rollup.repaired"]
    assert event.detail == "2 rollup row(s) differed from the charges journal: rebuilt"


def test_an_ending_period_reminds_once_of_idle_projects_and_an_unclosed_one_daily(
    uow: FakeAccountingUnitOfWork,
) -> None:
    svc.allocate_to_chair(uow, ADMIN, NOW, "nat", "chair-a", Q4, 10 * H, "b", calendar=CAL)
    svc.allocate_to_project(uow, ADMIN, NOW, "nat", "p1", Q4, 10 * H, "b", calendar=CAL)
    late_q4 = datetime(2026, 12, 20, tzinfo=UTC)
    said = acc.remind(uow, late_q4, CAL, 14)
    assert said == [
        "2026Q4 ends 2027-01-01: 1 project(s) have used less than half of their allocation (p1)",
        "2026Q3 ended 2026-10-01 and is not closed",
    ]
    assert acc.remind(uow, late_q4 + timedelta(hours=6), CAL, 14) == []
    assert acc.remind(uow, late_q4 + timedelta(hours=25), CAL, 14) == [said[1]]
    assert [e.action for e in uow.committed_store.audit if e.action.startswith("period.")] == [
        "period.reminder",
        "period.unclosed",
        "period.unclosed",
    ]


def test_nothing_to_say_early_in_a_period_after_the_last_one_closed(
    uow: FakeAccountingUnitOfWork,
) -> None:
    acc.close_period(uow, ADMIN, NOW, Q3, "signed off", force=True, calendar=CAL)
    assert acc.remind(uow, NOW, CAL, 14) == []


def test_the_automatic_close_waits_for_unresolved_differences(
    uow: FakeAccountingUnitOfWork,
) -> None:
    after = datetime(2026, 10, 8, tzinfo=UTC)
    assert acc.auto_close(uow, after, CAL, None) is None  # off by default
    assert acc.auto_close(uow, datetime(2026, 10, 3, tzinfo=UTC), CAL, 7) is None  # too soon
    consumed(uow, "p2", 30)
    acc.import_statement(
        uow,
        ADMIN,
        NOW,
        "loc",
        Q3,
        "national-csv",
        national(("acct-p2", 20)),
        "q3.csv",
        calendar=CAL,
    )
    assert acc.auto_close(uow, after, CAL, 7) is None  # p2 is over: an administrator decides
    assert uow.committed_store.closes == {}
    acc.decide(uow, ADMIN, NOW, "loc", Q3, "p2", "accept", 0, "as billed", calendar=CAL)
    assert acc.auto_close(uow, after, CAL, 7) == Q3
    close = uow.committed_store.closes[Q3]
    assert (close.closed_by, close.reason) == (
        "gpuhours-scheduler",
        "closed automatically 7 day(s) after its end (no unresolved difference)",
    )
    assert acc.auto_close(uow, after, CAL, 7) is None  # already closed
