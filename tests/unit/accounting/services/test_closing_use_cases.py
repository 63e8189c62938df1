"""The period's report, its close and its state, on in-memory fakes: the live figures while
open; a close refused while a difference is unresolved (unless forced), then final."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from accounting import report as rpt
from accounting import services as acc
from accounting.booking import UNROUTED
from accounting.errors import PeriodClosed
from accounting.ports import Consumed
from accounting.reconcile import Status
from allocator import services as svc
from allocator.errors import Conflict, Forbidden, InvalidInput
from allocator.model import EntryKind
from tests.builders import ADMIN, ALICE, CAL, ENGINEER, H
from tests.fakes_accounting import FakeAccountingUnitOfWork
from tests.unit.accounting.services.quarter_world import NOW, Q3, Q4, consumed, national


def rows(report: rpt.Report, level: str) -> dict[tuple[str, str], rpt.Row]:
    return {(r.pool, r.project or r.chair): r for r in report.rows if r.level == level}


def import_q3(uow: FakeAccountingUnitOfWork, *lines: tuple[str, float]) -> None:
    acc.import_statement(
        uow, ADMIN, NOW, "loc", Q3, "national-csv", national(*lines), "q3.csv", calendar=CAL
    )


def test_the_report_of_an_open_period_is_its_live_figures(uow: FakeAccountingUnitOfWork) -> None:
    consumed(uow, "p1", 80, provisional=5)
    consumed(uow, "p2", 30)
    import_q3(uow, ("acct-p1", 85), ("acct-p2", 20))
    report = acc.report(uow, ENGINEER, Q3, now=NOW, calendar=CAL)
    assert report.period == Q3 and report.closed_at is None
    pools = rows(report, "pool")
    assert (
        pools[("loc", "")].capacity == 2 * 92 * 24 * H and pools[("loc", "")].allocated == 150 * H
    )
    chairs = rows(report, "chair")
    assert {k: r.allocated for k, r in chairs.items()} == {
        ("loc", "chair-a"): 100 * H,
        ("loc", "chair-b"): 50 * H,
    }
    projects = rows(report, "project")
    p1, p2 = projects[("loc", "p1")], projects[("loc", "p2")]
    assert (p1.chair, p1.allocated, p1.consumed, p1.provisional) == (
        "chair-a",
        100 * H,
        80 * H,
        5 * H,
    )
    assert (p1.statement, p1.status, p1.expired) == (85 * H, Status.MATCH, 15 * H)
    assert (p2.consumed, p2.statement, p2.difference, p2.status) == (
        30 * H,
        20 * H,
        10 * H,
        Status.OVER,
    )
    # the national pool has hours of its grant but nobody used or received any of Q3's
    assert ("nat", "p1") not in projects
    assert acc.live_report(uow, Q3)[0] == report


def test_usage_no_pool_routes_is_reported_apart_in_gpu_seconds(
    uow: FakeAccountingUnitOfWork,
) -> None:
    uow.committed_store.consumed[(Q3, "p2", UNROUTED)] = Consumed(gpu_seconds=7 * H)
    report = acc.report(uow, ADMIN, Q3, now=NOW, calendar=CAL)
    assert rows(report, "pool")[(UNROUTED, "")].unit == "gpu-seconds (unrouted)"
    row = rows(report, "project")[(UNROUTED, "p2")]
    assert (row.chair, row.gpu_seconds, row.allocated) == ("chair-b", 7 * H, 0)


def test_researchers_do_not_read_the_report(uow: FakeAccountingUnitOfWork) -> None:
    with pytest.raises(Forbidden):
        acc.report(uow, ALICE, Q3, now=NOW, calendar=CAL)


def test_a_close_is_refused_while_a_difference_is_unresolved(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p2", 30)
    import_q3(uow, ("acct-p2", 20))
    with pytest.raises(Conflict, match="project p2 is over"):
        acc.close_period(uow, ADMIN, NOW, Q3, "signed off", calendar=CAL)
    assert uow.committed_store.closes == {}
    acc.decide(uow, ADMIN, NOW, "loc", Q3, "p2", "accept", 0, "as billed", calendar=CAL)
    signed = acc.close_period(uow, ADMIN, NOW, Q3, "signed off", calendar=CAL)
    assert rows(signed, "project")[("loc", "p2")].status == Status.ACCEPTED


def test_a_forced_close_signs_the_live_figures_off_and_is_final(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p1", 80)
    consumed(uow, "p2", 30)
    import_q3(uow, ("acct-p2", 20))
    live = acc.report(uow, ADMIN, Q3, now=NOW, calendar=CAL)
    signed = acc.close_period(uow, ADMIN, NOW, Q3, "signed off", force=True, calendar=CAL)
    assert signed.rows == live.rows
    assert (signed.closed_at, signed.closed_by) == (NOW.isoformat(), "admin")
    # the pools' policy: p1's 20 unused hours and p2's 20 expire (the local pool's default)
    expiries = [
        (e.source, e.amount) for e in uow.committed_store.ledger if e.kind is EntryKind.EXPIRY
    ]
    assert expiries == [("project:p1", 20 * H), ("project:p2", 20 * H)]
    [event] = [e for e in uow.committed_store.audit if e.action == "period.close"]
    assert (event.subject, event.detail) == (f"period:{Q3}", "signed off")
    # ever after: the signed report, whatever the consumption does
    consumed(uow, "p1", 99)
    assert acc.report(uow, ENGINEER, Q3, now=NOW, calendar=CAL) == signed
    with pytest.raises(PeriodClosed):
        acc.close_period(uow, ADMIN, NOW, Q3, "again", force=True, calendar=CAL)
    state = acc.period_state(uow, Q3, now=NOW, calendar=CAL)
    assert (state.closed, state.closed_at, state.closed_by) == (True, NOW, "admin")


def test_the_close_preview_shows_what_the_close_then_does_and_what_would_refuse_it(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p1", 80)
    consumed(uow, "p2", 30)
    import_q3(uow, ("acct-p2", 20))
    ledger_before = list(uow.committed_store.ledger)
    preview = acc.close_preview(uow, ADMIN, Q3, now=NOW, calendar=CAL)
    assert uow.committed_store.ledger == ledger_before  # a preview writes nothing
    assert [(r.pool, r.project, r.status) for r in preview.unresolved] == [
        ("loc", "p1", Status.MISSING_STATEMENT),  # used hours the statement does not list
        ("loc", "p2", Status.OVER),
    ]
    expiring = {(pool.id, o.project_id): o.expired for pool, _chair, o in preview.outcomes}
    assert expiring == {("loc", "p1"): 20 * H, ("loc", "p2"): 20 * H}
    with pytest.raises(Forbidden):
        acc.close_preview(uow, ENGINEER, Q3, now=NOW, calendar=CAL)
    acc.close_period(uow, ADMIN, NOW, Q3, "signed off", force=True, calendar=CAL)
    expiries = {
        (e.pool_id, e.source): e.amount
        for e in uow.committed_store.ledger
        if e.kind is EntryKind.EXPIRY
    }
    assert expiries == {(pool, f"project:{p}"): n for (pool, p), n in expiring.items()}
    with pytest.raises(PeriodClosed):
        acc.close_preview(uow, ADMIN, Q3, now=NOW, calendar=CAL)


def test_the_close_locks_every_pool_then_the_close_lock_and_reads_the_clock_last(
    uow: FakeAccountingUnitOfWork,
) -> None:
    later = datetime(2026, 11, 22, tzinfo=UTC)
    uow.events.clear()
    signed = acc.close_period(
        uow, ADMIN, NOW, Q3, "signed off", force=True, calendar=CAL, clock=lambda: later
    )
    assert signed.closed_at == later.isoformat()
    assert uow.events[:3] == [
        ("pool_lock", "loc"),
        ("pool_lock", "nat"),
        ("close_lock", "exclusive"),
    ]


@pytest.mark.parametrize(
    ("actor", "period", "reason", "error"),
    [
        (ENGINEER, Q3, "signed off", Forbidden),
        (ADMIN, Q3, " ", InvalidInput),
        (ADMIN, Q4, "too early", Conflict),
    ],
)
def test_only_an_administrator_closes_an_ended_period_with_a_reason(
    uow: FakeAccountingUnitOfWork, actor: object, period: str, reason: str, error: type
) -> None:
    with pytest.raises(error):
        acc.close_period(uow, actor, NOW, period, reason, force=True, calendar=CAL)  # type: ignore[arg-type]
    assert uow.committed_store.closes == {}


def test_an_open_period_states_its_bounds(uow: FakeAccountingUnitOfWork) -> None:
    state = acc.period_state(uow, Q4, now=NOW, calendar=CAL)
    assert (state.period, state.closed, state.closed_at, state.closed_by) == (Q4, False, None, None)
    assert (state.start, state.end) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_a_close_brings_back_the_loans_the_scheduled_return_has_not(
    uow: FakeAccountingUnitOfWork,
) -> None:
    """p1 lent 30 h to p1b in 2026Q3 (same chair); p1b used 10 of them. Closed before the
    loans-return job ran, the close returns the 20 unused hours: no loan stays out."""
    during = datetime(2026, 8, 3, tzinfo=UTC)
    svc.lend(uow, ADMIN, during, "loc", Q3, "p1", "p1b", 30 * H, "paper", nobody_used,
             calendar=CAL)  # fmt: skip
    consumed(uow, "p1b", 10)
    acc.close_period(uow, ADMIN, NOW, Q3, "signed off", force=True, calendar=CAL)
    returns = [
        (e.reference, e.source, e.target, e.amount)
        for e in uow.committed_store.ledger
        if e.reference.startswith("loan:") and e.reference.endswith(":return")
    ]
    assert returns == [("loan:1:return", "project:p1b", "project:p1", 20 * H)]
    [event] = [e for e in uow.committed_store.audit if e.action == "lending.returned"]
    assert event.subject == "pool:loc" and event.actor == "admin"


def test_a_close_after_the_scheduled_return_returns_nothing_more(
    uow: FakeAccountingUnitOfWork,
) -> None:
    during = datetime(2026, 8, 3, tzinfo=UTC)
    svc.lend(uow, ADMIN, during, "loc", Q3, "p1", "p1b", 30 * H, "paper", nobody_used,
             calendar=CAL)  # fmt: skip
    [back] = svc.return_loans(uow, ADMIN, NOW, "loc", Q3, nobody_used, calendar=CAL)
    assert (back.reference, back.amount) == ("loan:1:return", 30 * H)
    acc.close_period(uow, ADMIN, NOW, Q3, "signed off", force=True, calendar=CAL)
    returns = [e for e in uow.committed_store.ledger if e.reference == "loan:1:return"]
    assert returns == [back]


def nobody_used(
    period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
) -> Mapping[tuple[str, str], tuple[int, int]]:
    return {}
