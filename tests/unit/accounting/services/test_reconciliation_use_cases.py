"""Reconciling our consumption with a statement, the jobs behind a line, and the decisions on
a difference, on in-memory fakes."""

from __future__ import annotations

import pytest

from accounting import services as acc
from accounting.errors import PeriodClosed
from accounting.ports import JobCharge
from accounting.reconcile import Status, Tolerance
from allocator.errors import Conflict, Forbidden, InvalidInput, NotFound
from allocator.model import EntryKind
from tests.builders import ADMIN, ALICE, CAL, ENGINEER, H
from tests.fakes_accounting import FakeAccountingUnitOfWork
from tests.unit.accounting.services.quarter_world import NOW, Q3, consumed, national


def imported(uow: FakeAccountingUnitOfWork, *lines: tuple[str, float]) -> int:
    info = acc.import_statement(
        uow, ADMIN, NOW, "loc", Q3, "national-csv", national(*lines), "q3.csv", calendar=CAL
    )
    return info.id


def statuses(rec: acc.Reconciliation) -> dict[str, Status]:
    return {ln.project_id: ln.status for ln in rec.lines}


def test_without_a_statement_there_is_nothing_to_reconcile(uow: FakeAccountingUnitOfWork) -> None:
    consumed(uow, "p1", 80)
    rec = acc.reconcile(uow, ENGINEER, "loc", Q3, now=NOW, calendar=CAL)
    assert rec.statement is None and rec.lines == ()
    assert rec.tolerance == Tolerance()


def test_each_project_matches_is_over_under_or_missing_on_one_side(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p1", 80)  # the statement says 80: match
    consumed(uow, "p2", 30)  # the statement says 20: we counted more
    statement = imported(uow, ("acct-p1", 80), ("acct-p2", 20))
    rec = acc.reconcile(uow, ENGINEER, "loc", Q3, now=NOW, calendar=CAL)
    assert rec.statement is not None and rec.statement.id == statement
    assert statuses(rec) == {"p1": Status.MATCH, "p2": Status.OVER}
    p2 = rec.lines[1]
    assert (p2.ours, p2.theirs, p2.difference, p2.statement_lines) == (30 * H, 20 * H, 10 * H, (3,))

    consumed(uow, "p2", 10)  # now we counted less
    assert (
        statuses(acc.reconcile(uow, ADMIN, "loc", Q3, now=NOW, calendar=CAL))["p2"] is Status.UNDER
    )

    consumed(uow, "p2", 0)
    del uow.committed_store.consumed[(Q3, "p2", "loc")]  # we counted nothing at all
    assert (
        statuses(acc.reconcile(uow, ADMIN, "loc", Q3, now=NOW, calendar=CAL))["p2"]
        is Status.MISSING_OURS
    )


def test_usage_the_statement_does_not_list_is_missing_from_it(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p1", 80)
    consumed(uow, "p2", 5)
    imported(uow, ("acct-p1", 80))
    rec = acc.reconcile(uow, ENGINEER, "loc", Q3, now=NOW, calendar=CAL)
    assert statuses(rec) == {"p1": Status.MATCH, "p2": Status.MISSING_STATEMENT}


def test_a_wider_tolerance_turns_a_small_difference_into_a_match(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p1", 103)  # 3 % more than the statement
    imported(uow, ("acct-p1", 100))
    assert statuses(acc.reconcile(uow, ADMIN, "loc", Q3, now=NOW, calendar=CAL)) == {
        "p1": Status.OVER
    }
    wide = acc.reconcile(uow, ADMIN, "loc", Q3, Tolerance(0, 50), now=NOW, calendar=CAL)
    assert statuses(wide) == {"p1": Status.MATCH}


def test_the_latest_statement_of_the_period_is_the_one_reconciled(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p1", 80)
    imported(uow, ("acct-p1", 10))
    latest = imported(uow, ("acct-p1", 80))
    rec = acc.reconcile(uow, ADMIN, "loc", Q3, now=NOW, calendar=CAL)
    assert rec.statement is not None and rec.statement.id == latest
    assert statuses(rec) == {"p1": Status.MATCH}


def test_researchers_do_not_read_reconciliations(uow: FakeAccountingUnitOfWork) -> None:
    with pytest.raises(Forbidden):
        acc.reconcile(uow, ALICE, "loc", Q3, now=NOW, calendar=CAL)


def test_an_accepted_difference_stands_with_its_reason_until_the_figures_change(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p2", 30)
    imported(uow, ("acct-p2", 20))
    rec = acc.decide(
        uow, ADMIN, NOW, "loc", Q3, "p2", "accept", 0, "cluster clock skew", calendar=CAL
    )
    assert statuses(rec) == {"p2": Status.ACCEPTED}
    [decision] = uow.committed_store.decisions
    assert (decision.action, decision.ours, decision.theirs) == ("accept", 30 * H, 20 * H)
    assert (decision.reason, decision.actor, decision.ledger_entry_id) == (
        "cluster clock skew",
        "admin",
        None,
    )
    [event] = [e for e in uow.committed_store.audit if e.action == "reconciliation.accept"]
    assert event.subject == "project:p2" and event.detail.endswith(": cluster clock skew")

    consumed(uow, "p2", 31)  # new usage re-opens the line
    assert statuses(acc.reconcile(uow, ADMIN, "loc", Q3, now=NOW, calendar=CAL)) == {
        "p2": Status.OVER
    }


def test_an_adjustment_posts_a_ledger_entry_and_resolves_the_line(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p2", 30)
    statement = imported(uow, ("acct-p2", 20))
    rec = acc.decide(
        uow, ADMIN, NOW, "loc", Q3, "p2", "adjust", 10 * H, "over-counted", calendar=CAL
    )
    assert statuses(rec) == {"p2": Status.ADJUSTED}
    assert rec.lines[0].adjustments == 10 * H
    [entry] = [e for e in uow.committed_store.ledger if e.kind is EntryKind.ADJUSTMENT]
    assert (
        entry.amount == 10 * H and entry.reference == f"reconciliation:{Q3}:statement-{statement}"
    )
    [decision] = uow.committed_store.decisions
    assert decision.ledger_entry_id == entry.id and decision.amount == 10 * H


@pytest.mark.parametrize(
    ("action", "amount", "reason", "field"),
    [
        ("ignore", 0, "why", "action"),
        ("accept", 0, "  ", "reason"),
        ("accept", H, "why", "amount"),
        ("adjust", 0, "why", "amount"),
    ],
)
def test_a_decision_needs_a_known_action_a_reason_and_a_fitting_amount(
    uow: FakeAccountingUnitOfWork, action: str, amount: int, reason: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        acc.decide(uow, ADMIN, NOW, "loc", Q3, "p2", action, amount, reason, calendar=CAL)
    assert err.value.field == field
    assert uow.committed_store.decisions == []


def test_a_decision_needs_a_statement_a_line_and_a_mapped_project(
    uow: FakeAccountingUnitOfWork,
) -> None:
    with pytest.raises(Conflict):
        acc.decide(uow, ADMIN, NOW, "loc", Q3, "p1", "accept", 0, "why", calendar=CAL)
    consumed(uow, "p1", 80)
    uow.committed_store.consumed[(Q3, "", "loc")] = uow.committed_store.consumed[(Q3, "p1", "loc")]
    imported(uow, ("acct-p1", 80))
    with pytest.raises(NotFound):
        acc.decide(uow, ADMIN, NOW, "loc", Q3, "p2", "accept", 0, "why", calendar=CAL)
    with pytest.raises(InvalidInput) as err:
        acc.decide(uow, ADMIN, NOW, "loc", Q3, "", "adjust", H, "why", calendar=CAL)
    assert err.value.field == "project_id"
    assert uow.committed_store.decisions == []


def test_no_decision_is_taken_in_a_closed_period(uow: FakeAccountingUnitOfWork) -> None:
    consumed(uow, "p2", 30)
    imported(uow, ("acct-p2", 20))
    acc.close_period(uow, ADMIN, NOW, Q3, "signed off", force=True, calendar=CAL)
    with pytest.raises(PeriodClosed):
        acc.decide(uow, ADMIN, NOW, "loc", Q3, "p2", "accept", 0, "late", calendar=CAL)
    assert uow.committed_store.decisions == []


def test_the_jobs_behind_a_line_are_those_of_the_projects_accounts(
    uow: FakeAccountingUnitOfWork,
) -> None:
    mine = JobCharge("enact-dev", 7, 1, "acct-p1", 3600, 3600, False, False)
    unmapped = JobCharge("enact-dev", 8, 2, "acct-x", 60, 60, True, False)
    uow.committed_store.jobs[(Q3, "loc")] = [mine, unmapped]
    assert acc.jobs_behind(uow, ENGINEER, "loc", Q3, "p1", now=NOW, calendar=CAL) == [mine]
    assert acc.jobs_behind(uow, ENGINEER, "loc", Q3, "", now=NOW, calendar=CAL) == [unmapped]
    assert acc.jobs_behind(uow, ENGINEER, "loc", Q3, "p1", 0, now=NOW, calendar=CAL) == []
    with pytest.raises(NotFound):
        acc.jobs_behind(uow, ENGINEER, "loc", Q3, "nope", now=NOW, calendar=CAL)
