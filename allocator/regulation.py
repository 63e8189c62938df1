"""Regulation of under-used grants: the GENCI and the TGCC rule, as data per pool.

**GENCI** (:class:`UnderuseRule`): a grant that has used under ``threshold`` (30 %) of its hours
``after_months`` (5) months after its start loses up to ``reclaim`` (40 %) of them, on that
date. "Up to": never more than the hours still unused.

**TGCC** (:class:`LinearPlanRule`): on ``check_day`` (the 15th) of every month, a grant is
compared with its linear plan (``grant x elapsed / duration``). More than ``late_days`` (60) days'
worth behind it, ``deduct_days`` (30) days' worth of hours are deducted. Deducted hours count
as if consumed against the plan, so a deduction brings the grant 30 days closer to it.

Each pool names its rule and where reclaimed hours go (:class:`Regulation`): back to the
project's chair (one ``RELEASE`` project -> chair) or further to the pool (and ``RELEASE``
chair -> pool). Every clawback carries the reference ``clawback:<rule>:<project>:<date>``;
:func:`clawed_of` reads the posted ones back from the journal, so :func:`clawbacks_due` posts
each check's clawback once: applied a second time, it finds the reference and gives nothing.

:func:`simulate` shows, from the consumption so far and a burn rate (by default the average
per day since the grant began), what each check ahead would reclaim and when.

Pure. Amounts are unit-seconds; a day is 86 400 seconds; months are calendar months (a grant
starting on 31 January is checked five months on, on 30 June).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from allocator.model import (
    MILLI,
    EntryKind,
    LedgerEntry,
    chair_account,
    pool_account,
    project_account,
)
from allocator.rounds import hours

DAY = 86_400
CLAWBACK = "clawback:"


class Destination(StrEnum):
    """Where a pool's reclaimed hours go."""

    CHAIR = "chair"
    POOL = "pool"


@dataclass(frozen=True, slots=True)
class UnderuseRule:
    """GENCI: under ``threshold_milli`` used ``after_months`` into the grant, up to
    ``reclaim_milli`` of it reclaimed on that date."""

    after_months: int = 5
    threshold_milli: int = 300
    reclaim_milli: int = 400
    name: str = "genci"


@dataclass(frozen=True, slots=True)
class LinearPlanRule:
    """TGCC: on ``check_day`` of each month, more than ``late_days`` behind the linear plan
    deducts ``deduct_days``' worth."""

    check_day: int = 15
    late_days: int = 60
    deduct_days: int = 30
    name: str = "tgcc"


Rule = UnderuseRule | LinearPlanRule


@dataclass(frozen=True, slots=True)
class Regulation:
    pool_id: str
    rule: Rule
    destination: Destination = Destination.CHAIR


@dataclass(frozen=True, slots=True)
class Grant:
    """A project's hours in a regulated pool over ``[start, end)``."""

    project_id: str
    chair_id: str
    amount: int
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a grant stands: ``consumed`` so far, the clawbacks already posted
    (``(reference, amount)``, from :func:`clawed_of`), and its burn rate in unit-seconds per day
    (``None``: the average per day so far)."""

    grant: Grant
    consumed: int
    clawed: tuple[tuple[str, int], ...] = ()
    burn_per_day: int | None = None

    @property
    def clawed_total(self) -> int:
        return sum(amount for _reference, amount in self.clawed)

    @property
    def unused(self) -> int:
        return max(self.grant.amount - self.consumed - self.clawed_total, 0)


@dataclass(frozen=True, slots=True)
class Clawback:
    project_id: str
    on: datetime
    amount: int
    reference: str
    explanation: str


# --- the checks ------------------------------------------------------------------------------


def check_dates(rule: Rule, grant: Grant) -> Iterator[datetime]:
    """The dates ``rule`` checks ``grant`` on, in order (inside the grant)."""
    if isinstance(rule, UnderuseRule):
        dates: Iterable[datetime] = [add_months(grant.start, rule.after_months)]
    else:
        dates = _monthly(grant.start, rule.check_day, grant.end)
    yield from (d for d in dates if grant.start < d < grant.end)


def _monthly(start: datetime, day: int, end: datetime) -> Iterator[datetime]:
    months = 0
    first = datetime(start.year, start.month, 1, tzinfo=start.tzinfo)
    while (d := add_months(first, months)) < end:
        yield d.replace(day=min(day, calendar.monthrange(d.year, d.month)[1]))
        months += 1


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` ``months`` calendar months on, on the same day or the month's last."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


def check(rule: Rule, standing: Standing, on: datetime) -> Clawback | None:
    """What ``rule`` reclaims on ``on`` from a grant standing as ``standing`` then."""
    grant = standing.grant
    reference = f"{CLAWBACK}{rule.name}:{grant.project_id}:{on.date().isoformat()}"
    if grant.amount <= 0:
        return None
    if isinstance(rule, UnderuseRule):
        return _underuse(rule, standing, on, reference)
    return _behind_plan(rule, standing, on, reference)


def _underuse(rule: UnderuseRule, s: Standing, on: datetime, reference: str) -> Clawback | None:
    g = s.grant.amount
    if s.consumed * MILLI >= rule.threshold_milli * g:
        return None
    amount = min(g * rule.reclaim_milli // MILLI, s.unused)
    if amount <= 0:
        return None
    why = (
        f"GENCI rule: {_percent(s.consumed, g)} of {hours(g)} used {rule.after_months} months"
        f" into the grant, under {_percent(rule.threshold_milli, MILLI)}:"
        f" {hours(amount)} reclaimed on {on.date().isoformat()}"
        f" (up to {_percent(rule.reclaim_milli, MILLI)} of the grant)"
    )
    return Clawback(s.grant.project_id, on, amount, reference, why)


def _behind_plan(
    rule: LinearPlanRule, s: Standing, on: datetime, reference: str
) -> Clawback | None:
    g, grant = s.grant.amount, s.grant
    duration = _seconds(grant.start, grant.end)
    planned = g * _seconds(grant.start, on) // duration
    behind = planned - s.consumed - s.clawed_total
    if behind * duration <= g * rule.late_days * DAY:
        return None
    amount = min(g * rule.deduct_days * DAY // duration, s.unused)
    if amount <= 0:
        return None
    days = behind * duration // (g * DAY)
    why = (
        f"TGCC rule: {days} days behind the linear plan on {on.date().isoformat()}, more than"
        f" {rule.late_days}: {rule.deduct_days} days' worth, {hours(amount)}, deducted"
    )
    return Clawback(grant.project_id, on, amount, reference, why)


def _seconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds())


def _percent(part: int, whole: int) -> str:
    tenths = part * 1000 // whole
    whole_part, decimal = divmod(tenths, 10)
    return f"{whole_part}.{decimal} %" if decimal else f"{whole_part} %"


# --- simulate and apply -----------------------------------------------------------------------


def simulate(rule: Rule, standing: Standing, today: datetime) -> list[Clawback]:
    """Each check from ``today`` to the grant's end that would reclaim hours, if the grant
    burns on at its rate: the amount and the date."""
    grant = standing.grant
    rate = standing.burn_per_day
    if rate is None:
        elapsed = _seconds(grant.start, today)
        rate = standing.consumed * DAY // elapsed if elapsed > 0 else 0
    out: list[Clawback] = []
    clawed = standing.clawed
    posted = {reference for reference, _amount in clawed}
    for on in check_dates(rule, grant):
        if on < today:
            continue
        ahead = standing.consumed + rate * _seconds(today, on) // DAY
        then = replace(standing, clawed=clawed)
        then = replace(then, consumed=min(ahead, standing.consumed + then.unused))
        found = check(rule, then, on)
        if found is not None and found.reference not in posted:
            out.append(found)
            clawed += ((found.reference, found.amount),)
    return out


def due(rule: Rule, standing: Standing, at: datetime) -> Clawback | None:
    """The clawback of the latest check on or before ``at``, unless it was posted."""
    passed = [d for d in check_dates(rule, standing.grant) if d <= at]
    if not passed:
        return None
    found = check(rule, standing, passed[-1])
    posted = {reference for reference, _amount in standing.clawed}
    if found is None or found.reference in posted:
        return None
    return found


def clawbacks_due(
    regulation: Regulation,
    standings: Iterable[Standing],
    at: datetime,
    period: str,
    actor: str,
) -> list[LedgerEntry]:
    """The entries to post at ``at`` (in ``period``, the one containing it): every grant's due
    clawback not yet posted, judged on the consumption of ``standings`` (read at ``at``: run it
    on the check date). Applying them and asking again gives nothing."""
    entries: list[LedgerEntry] = []
    for standing in sorted(standings, key=lambda s: s.grant.project_id):
        found = due(regulation.rule, standing, at)
        if found is not None:
            entries += clawback_entries(regulation, standing.grant, found, period, actor, at)
    return entries


def clawback_entries(
    regulation: Regulation, grant: Grant, clawback: Clawback, period: str, actor: str, at: datetime
) -> list[LedgerEntry]:
    project, chair = project_account(grant.project_id), chair_account(grant.chair_id)
    moves = [(project, chair)]
    if regulation.destination is Destination.POOL:
        moves.append((chair, pool_account(regulation.pool_id)))
    return [
        LedgerEntry(
            EntryKind.RELEASE,
            regulation.pool_id,
            period,
            source,
            target,
            clawback.amount,
            actor,
            at,
            clawback.explanation,
            None,
            clawback.reference,
        )
        for source, target in moves
    ]


def clawed_of(entries: Iterable[LedgerEntry], project_id: str) -> tuple[tuple[str, int], ...]:
    """The clawbacks posted from ``project_id``'s account: ``(reference, amount)``."""
    account = project_account(project_id)
    return tuple(
        (e.reference, e.amount)
        for e in entries
        if e.kind is EntryKind.RELEASE and e.source == account and e.reference.startswith(CLAWBACK)
    )
