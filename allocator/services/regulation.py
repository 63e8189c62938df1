"""Regulation of under-used grants (:mod:`allocator.regulation`), at the edge: each regulated
pool's rule, set by an admin; ``simulate`` (what each project would lose and when, from its
burn rate) and ``apply`` (the clawbacks due now posted once, journaled ``clawback:...``).

A project's **grant** in a regulated pool is what it was allocated over the pool's validity
window (every period of it, net of the hours it handed back; clawbacks are not hand-backs),
from the window's start to its end; its **consumption** is what it consumed in those periods
(final and provisional). A clawback is posted in the period containing the moment it is
applied, and never takes more than the project has unused in that period: hours of a past
period were already dealt with by its close.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from allocator import regulation, rules
from allocator.errors import InvalidInput, NotFound
from allocator.ledger import balance
from allocator.model import EntryKind, LedgerEntry, Pool, Project, User, project_account
from allocator.periods import Calendar, Period
from allocator.ports import ConsumptionLookup, RoundsUnitOfWork
from allocator.regulation import Clawback, Regulation, Standing, UnderuseRule
from allocator.rounds import hours
from allocator.services._common import ADMIN, STAFF, get_pool, record
from allocator.services._guards import prepare_period

#: Each parameter's bounds: (least, most).
BOUNDS = {
    "after_months": (1, 120),
    "threshold_milli": (1, 1000),
    "reclaim_milli": (1, 1000),
    "check_day": (1, 31),
    "late_days": (1, 3650),
    "deduct_days": (1, 3650),
}


@dataclass(frozen=True, slots=True)
class Outlook:
    """One project's grant in a regulated pool, where it stands, and the clawbacks ahead
    (each with its date and amount) at its burn rate."""

    standing: Standing
    ahead: tuple[Clawback, ...]


# --- the rule -------------------------------------------------------------------------------------


def set_regulation(
    uow: RoundsUnitOfWork, actor: User, now: datetime, regulated: Regulation
) -> Regulation:
    """The pool's rule, replacing the one set. The pool needs a validity window: a grant's
    start and end are the window's."""
    rules.require_role(actor, *ADMIN)
    _check_rule(regulated)
    with uow:
        pool = get_pool(uow, regulated.pool_id)
        _window(pool)
        uow.regulations.put(regulated)
        record(uow, actor, now, "regulation.set", f"pool:{pool.id}", describe(regulated))
        uow.commit()
    return regulated


def remove_regulation(uow: RoundsUnitOfWork, actor: User, now: datetime, pool_id: str) -> None:
    rules.require_role(actor, *ADMIN)
    with uow:
        get_pool(uow, pool_id)
        uow.regulations.remove(pool_id)
        record(uow, actor, now, "regulation.removed", f"pool:{pool_id}", "no rule")
        uow.commit()


def list_regulations(uow: RoundsUnitOfWork, actor: User) -> Sequence[Regulation]:
    rules.require_role(actor, *STAFF)
    with uow:
        return uow.regulations.list()


def describe(r: Regulation) -> str:
    rule = r.rule
    if isinstance(rule, UnderuseRule):
        text = (
            f"GENCI: under {rule.threshold_milli / 10:g} % used {rule.after_months} months into"
            f" the grant, up to {rule.reclaim_milli / 10:g} % reclaimed"
        )
    else:
        text = (
            f"TGCC: on day {rule.check_day} of each month, more than {rule.late_days} days"
            f" behind the linear plan, {rule.deduct_days} days deducted"
        )
    return f"{text}; reclaimed hours go back to the {r.destination.value}"


def _check_rule(r: Regulation) -> None:
    rule = r.rule
    names = (
        ("after_months", "threshold_milli", "reclaim_milli")
        if isinstance(rule, UnderuseRule)
        else ("check_day", "late_days", "deduct_days")
    )
    for name in names:
        value = getattr(rule, name)
        low, high = BOUNDS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(name, f"a whole number from {low} to {high}")


def _window(pool: Pool) -> tuple[datetime, datetime]:
    if pool.valid_from is None or pool.valid_until is None:
        raise InvalidInput(
            "pool_id", f"{pool.id} has no validity window: regulation judges a grant over one"
        )
    return pool.valid_from, pool.valid_until


def _rule_of(uow: RoundsUnitOfWork, pool_id: str) -> Regulation:
    found = uow.regulations.get(pool_id)
    if found is None:
        raise NotFound("regulation", pool_id, field="pool_id")
    return found


# --- simulate and apply ---------------------------------------------------------------------------


def simulate_regulation(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    consumption: ConsumptionLookup,
    *,
    calendar: Calendar,
) -> list[Outlook]:
    """Each project's grant in the pool and the clawbacks its burn rate leads to, from now to
    the grant's end (a check already due and not yet applied first). Nothing is written."""
    rules.require_role(actor, *STAFF)
    with uow:
        pool = get_pool(uow, pool_id)
        regulated = _rule_of(uow, pool_id)
        out = []
        for standing in _standings(uow, pool, now, consumption, calendar):
            due = regulation.due(regulated.rule, standing, now)
            ahead = regulation.simulate(regulated.rule, standing, now)
            late = [due] if due is not None and due.on < now else []
            out.append(Outlook(standing, tuple(late + ahead)))
        return out


def apply_regulation(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    consumption: ConsumptionLookup,
    *,
    calendar: Calendar,
) -> list[LedgerEntry]:
    """Post the clawbacks due now (the latest check on or before ``now`` of each grant), in
    the period containing ``now``, each once: applied again, it posts nothing."""
    rules.require_role(actor, *ADMIN)
    period = calendar.containing(now)
    with uow:
        pool = get_pool(uow, pool_id)
        regulated = _rule_of(uow, pool_id)
        prepare_period(uow, actor, now, pool, period)
        entries: list[LedgerEntry] = []
        standings = _standings(uow, pool, now, consumption, calendar)
        unused = _unused_now(
            uow, pool, period, [s.grant.project_id for s in standings], consumption
        )
        for standing in standings:
            found = regulation.due(regulated.rule, standing, now)
            if found is None:
                continue
            found = _capped(found, unused.get(standing.grant.project_id, 0), period)
            if found.amount <= 0:
                continue
            entries += regulation.clawback_entries(
                regulated, standing.grant, found, period.label, actor.username, now
            )
        written = [uow.ledger.append(e) for e in entries]
        if written:
            text = "; ".join(
                f"{e.reference}: {hours(e.amount)}"
                for e in written
                if e.source.startswith("project:")
            )
            record(uow, actor, now, "regulation.applied", f"pool:{pool.id}", text)
        uow.commit()
    return written


def _capped(found: Clawback, unused: int, period: Period) -> Clawback:
    if found.amount <= unused:
        return found
    amount = max(unused, 0)
    why = (
        f"{found.explanation}; {hours(amount)} unused in {period.label}, so {hours(amount)}"
        " reclaimed"
    )
    return replace(found, amount=amount, explanation=why)


def _periods(pool: Pool, now: datetime, calendar: Calendar) -> list[Period]:
    """The periods of the pool's window that have begun by ``now``."""
    start, end = _window(pool)
    out, period = [], calendar.containing(start)
    while period.start < end and period.start <= now:
        out.append(period)
        period = calendar.next(period)
    return out


def _standings(
    uow: RoundsUnitOfWork,
    pool: Pool,
    now: datetime,
    consumption: ConsumptionLookup,
    calendar: Calendar,
) -> list[Standing]:
    """Each project's grant in the pool (allocated over the window, net of hand-backs), what
    it consumed so far and the clawbacks already posted, by project id."""
    start, end = _window(pool)
    entries = uow.ledger.entries(pool_id=pool.id)
    granted: dict[str, int] = defaultdict(int)
    for e in entries:
        if e.kind is EntryKind.ALLOCATE and e.target.startswith("project:"):
            granted[e.target.removeprefix("project:")] += e.amount
        elif (
            e.kind is EntryKind.RELEASE
            and e.source.startswith("project:")
            and not e.reference.startswith(regulation.CLAWBACK)
        ):
            granted[e.source.removeprefix("project:")] -= e.amount
    used: dict[str, int] = defaultdict(int)
    for period in _periods(pool, now, calendar):
        for (project, pool_id), (final, provisional) in consumption(
            period.label, [pool.id], None
        ).items():
            if pool_id == pool.id:
                used[project] += final + provisional
    projects: dict[str, Project] = {p.id: p for p in uow.projects.list()}
    return [
        Standing(
            regulation.Grant(project_id, projects[project_id].chair_id, amount, start, end),
            used.get(project_id, 0),
            regulation.clawed_of(entries, project_id),
        )
        for project_id, amount in sorted(granted.items())
        if amount > 0 and project_id in projects
    ]


def _unused_now(
    uow: RoundsUnitOfWork,
    pool: Pool,
    period: Period,
    projects: Sequence[str],
    consumption: ConsumptionLookup,
) -> dict[str, int]:
    if not projects:
        return {}
    flows = uow.ledger.flows_in([pool.id], period.label, [project_account(p) for p in projects])
    used = consumption(period.label, [pool.id], list(projects))
    return {
        p: balance(flows[pool.id], project_account(p)) - sum(used.get((p, pool.id), (0, 0)))
        for p in projects
    }
