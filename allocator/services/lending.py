"""Borrowing and lending inside a chair (:mod:`allocator.lending`), at the edge: each chair's
policy and its projects' limits, set by an admin; lend, borrow, recall and the return of every
loan at the period's end, each move journaled as a ``TRANSFER`` with its ``loan:N`` reference.

A project's *unused* hours in a pool and period are its balance less what it has consumed
(final and provisional): a loan never lends hours already used, and a return never takes back
more than the borrower still has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from allocator import lending, rules
from allocator.errors import Conflict, InvalidInput
from allocator.lending import Limits, Loan, Move, ReturnPolicy, Terms
from allocator.model import LedgerEntry, Project, User, project_account
from allocator.periods import Calendar, Period
from allocator.ports import ConsumptionLookup, RoundsUnitOfWork
from allocator.rounds import hours
from allocator.services._common import ADMIN, STAFF, get_chair, get_pool, get_project, record
from allocator.services._guards import prepare_period


@dataclass(frozen=True, slots=True)
class LendingView:
    """A chair's lending in one pool and period: its terms, its loans, each project's unused
    hours and what it may lend now."""

    terms: Terms
    loans: tuple[Loan, ...]
    unused: tuple[tuple[str, int], ...]
    lendable: tuple[tuple[str, int], ...]


# --- the chair's terms ----------------------------------------------------------------------------


def set_lending_terms(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    chair_id: str,
    policy: ReturnPolicy,
    limits: Sequence[Limits] = (),
) -> None:
    """The chair's return policy and (some of) its projects' limits (``None``: no limit)."""
    rules.require_role(actor, *ADMIN)
    rules.no_duplicates("limits", [(x.project_id, f"project {x.project_id!r}") for x in limits])
    for x in limits:
        for name, value in (
            ("lending_limit", x.lending_limit),
            ("borrowing_limit", x.borrowing_limit),
        ):
            if value is not None and value != 0:
                rules.check_amount(value, name)
    with uow:
        get_chair(uow, chair_id)
        for x in limits:
            project = get_project(uow, x.project_id, field="limits")
            if project.chair_id != chair_id:
                raise InvalidInput("limits", f"{project.id} is not a project of {chair_id}")
        uow.lending.set_policy(chair_id, policy)
        for x in limits:
            uow.lending.set_limits(x)
        text = f"policy {policy.value}" + "".join(
            f"; {x.project_id}: lends up to {_limit(x.lending_limit)},"
            f" borrows up to {_limit(x.borrowing_limit)}"
            for x in limits
        )
        record(uow, actor, now, "lending.terms", f"chair:{chair_id}", text)
        uow.commit()


def _limit(value: int | None) -> str:
    return "no limit" if value is None else hours(value)


def lending_view(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    chair_id: str,
    pool_id: str,
    period: str,
    consumption: ConsumptionLookup,
    *,
    calendar: Calendar,
) -> LendingView:
    """The chair's terms, loans and lendable hours in ``pool_id`` and ``period`` (staff)."""
    rules.require_role(actor, *STAFF)
    checked = calendar.check(period, now)
    with uow:
        get_chair(uow, chair_id)
        get_pool(uow, pool_id)
        terms, loans, unused = _state(uow, chair_id, pool_id, checked, consumption)
        mine = tuple(
            x for x in loans if x.lender in unused or x.borrower in unused
        )  # the chair's loans only
        can = tuple((p, lending.lendable(terms, loans, unused, p)) for p in sorted(unused))
        return LendingView(terms, mine, tuple(sorted(unused.items())), can)


# --- the moves ------------------------------------------------------------------------------------


def lend(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    period: str,
    lender: str,
    borrower: str,
    amount: int,
    reason: str,
    consumption: ConsumptionLookup,
    *,
    calendar: Calendar,
) -> list[LedgerEntry]:
    """``lender`` lends ``amount`` of its unused hours to ``borrower``, of the same chair."""
    _check(actor, amount, reason)
    checked = calendar.check(period, now)
    with uow:
        source = get_project(uow, lender, field="lender")
        target = get_project(uow, borrower, field="borrower")
        if source.chair_id != target.chair_id:
            raise InvalidInput("borrower", f"{borrower} is not of {lender}'s chair")
        terms, loans, unused = _prepare(uow, actor, now, pool_id, checked, source, consumption)
        entries = lending.lend(
            terms, loans, unused, lender, borrower, amount, _move(actor, now, reason)
        )
        return _journal(uow, actor, now, checked, entries, "lending.lent")


def borrow(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    period: str,
    borrower: str,
    amount: int,
    reason: str,
    consumption: ConsumptionLookup,
    *,
    calendar: Calendar,
) -> list[LedgerEntry]:
    """``borrower`` borrows ``amount`` from its chair's other projects (most lendable first)."""
    _check(actor, amount, reason)
    checked = calendar.check(period, now)
    with uow:
        project = get_project(uow, borrower, field="borrower")
        terms, loans, unused = _prepare(uow, actor, now, pool_id, checked, project, consumption)
        entries = lending.borrow(terms, loans, unused, borrower, amount, _move(actor, now, reason))
        return _journal(uow, actor, now, checked, entries, "lending.borrowed")


def recall(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    period: str,
    lender: str,
    amount: int,
    reason: str,
    consumption: ConsumptionLookup,
    *,
    calendar: Calendar,
) -> list[LedgerEntry]:
    """The lender needs ``amount`` back (a chair whose policy is ``recall``): its newest loans
    return first, as far as their borrowers have hours unused. Nothing to return is a 409."""
    _check(actor, amount, reason)
    checked = calendar.check(period, now)
    with uow:
        project = get_project(uow, lender, field="lender")
        terms, loans, unused = _prepare(uow, actor, now, pool_id, checked, project, consumption)
        entries = lending.recall(terms, loans, unused, lender, amount, _move(actor, now, reason))
        if not entries:
            raise Conflict(f"lender: {lender} has no loan its borrowers can return", field="lender")
        return _journal(uow, actor, now, checked, entries, "lending.recalled")


def return_loans(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    period: str,
    consumption: ConsumptionLookup,
    *,
    calendar: Calendar,
) -> list[LedgerEntry]:
    """At the period's end (before it is closed), every open loan of every chair in the pool
    returns, as far as its borrower has hours unused. Idempotent: a second run finds nothing
    more to return and posts nothing. Refused (409) before the period ends."""
    rules.require_role(actor, *ADMIN)
    checked = calendar.check(period, now)
    if now < checked.end:
        raise Conflict(
            f"period: {period}'s loans return at its end, {checked.end.isoformat()}", field="period"
        )
    with uow:
        pool = get_pool(uow, pool_id)
        prepare_period(uow, actor, now, pool, checked)
        loans = lending.loans_of(uow.ledger.entries(pool_id=pool_id, period=period))
        people = sorted({x.lender for x in loans} | {x.borrower for x in loans})
        unused = _unused(uow, pool_id, checked.label, people, consumption)
        chairs = {p.id: p.chair_id for p in uow.projects.list()}
        move = Move(actor.username, now, f"loans return at the end of {period}")
        entries: list[LedgerEntry] = []
        for chair_id in sorted({chairs[p] for p in people}):
            terms = _terms(uow, chair_id, pool_id, period)
            mine = [x for x in loans if chairs[x.lender] == chair_id]
            entries += lending.period_end(terms, mine, unused, move)
        return _journal(uow, actor, now, checked, entries, "lending.returned")


# --- helpers --------------------------------------------------------------------------------------


def _check(actor: User, amount: int, reason: str) -> None:
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount, "hours")
    if not reason.strip():
        raise InvalidInput("reason", "a loan needs a reason")


def _move(actor: User, now: datetime, reason: str) -> Move:
    return Move(actor.username, now, reason.strip())


def _prepare(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    checked: Period,
    project: Project,
    consumption: ConsumptionLookup,
) -> tuple[Terms, tuple[Loan, ...], dict[str, int]]:
    """The pool locked and the period open, then the chair's terms, the pool's loans in the
    period and the chair's projects' unused hours, read under that lock."""
    pool = get_pool(uow, pool_id)
    prepare_period(uow, actor, now, pool, checked)
    return _state(uow, project.chair_id, pool_id, checked, consumption)


def _state(
    uow: RoundsUnitOfWork,
    chair_id: str,
    pool_id: str,
    period: Period,
    consumption: ConsumptionLookup,
) -> tuple[Terms, tuple[Loan, ...], dict[str, int]]:
    terms = _terms(uow, chair_id, pool_id, period.label)
    # every loan of the pool and period: loan numbers are the pool's, not the chair's
    loans = lending.loans_of(uow.ledger.entries(pool_id=pool_id, period=period.label))
    people = [x.project_id for x in terms.limits]
    return terms, loans, _unused(uow, pool_id, period.label, people, consumption)


def _terms(uow: RoundsUnitOfWork, chair_id: str, pool_id: str, period: str) -> Terms:
    projects = [p.id for p in uow.projects.list(chair_id=chair_id)]
    limits = tuple(uow.lending.limits(projects))
    return Terms(chair_id, pool_id, period, uow.lending.policy(chair_id), limits)


def _unused(
    uow: RoundsUnitOfWork,
    pool_id: str,
    period: str,
    projects: Sequence[str],
    consumption: ConsumptionLookup,
) -> dict[str, int]:
    """Each project's balance less its consumption (final and provisional)."""
    if not projects:
        return {}
    accounts = [project_account(p) for p in projects]
    flows = uow.ledger.flows_in([pool_id], period, accounts)[pool_id]
    found = consumption(period, [pool_id], list(projects))
    used = {p: sum(found.get((p, pool_id), (0, 0))) for p in projects}
    return lending.unused_of(flows, used, projects)


def _journal(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    period: Period,
    entries: Sequence[LedgerEntry],
    action: str,
) -> list[LedgerEntry]:
    """Append the entries and one audit event naming them, then commit."""
    written = [uow.ledger.append(e) for e in entries]
    if written:
        text = "; ".join(
            f"{e.reference}: {e.source} -> {e.target} {hours(e.amount)}" for e in written
        )
        record(uow, actor, now, action, f"{written[0].pool_id}/{period.label}", text)
    uow.commit()
    return written
