"""The rules behind the scheduled notifications: thresholds, forecasts, under-consumption. Pure.

Thresholds (80 % and 100 % of an allocation)
    :func:`threshold_step` moves a :class:`Crossing` along: crossed when ``used >= percent`` of
    ``allotted``, un-crossed when an adjustment (or a refund) brings it back below. Each new
    crossing increments ``times``, which is part of the event's key: a threshold crossed is told
    once, un-crossed and crossed again is told again, and a re-ingest of the same window (same
    usage, same state) tells nothing.
Projected exhaustion
    :func:`exhaustion_before_end`: at the recent burn rate, the remaining hours run out before
    the period ends. Told once per project, pool and period.
Under-consumption (GENCI-style)
    A national grant is checked every ``every_months`` months from its start (before its end):
    at each check date, a project should have consumed at least ``share_milli`` thousandths of
    the pro-rata share of the grant (elapsed / whole). Hours under that may be taken back by the
    national centre. :func:`under_consumption_risk` warns ``warn_days`` before a check date
    when, at the average rate since the start, the pool will miss it. Example: a 12-month grant
    from 1 January, checks every 6 months at half the pro-rata share -> one check on 1 July
    (needing 25 % of the grant), warned from 1 June on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MILLI = 1000


@dataclass(frozen=True, slots=True)
class Crossing:
    """Where an account stands against one threshold: above it now, and how many times it
    went above it (the current crossing's number)."""

    crossed: bool = False
    times: int = 0


def is_above(used: int, allotted: int, percent: int) -> bool:
    """``used`` reaches ``percent`` % of ``allotted`` (nothing allotted: never)."""
    return allotted > 0 and used * 100 >= allotted * percent


def threshold_step(
    state: Crossing, used: int, allotted: int, percent: int
) -> tuple[Crossing, bool]:
    """The new state and whether this step is a new crossing (to be told)."""
    above = is_above(used, allotted, percent)
    if above and not state.crossed:
        return Crossing(True, state.times + 1), True
    if not above and state.crossed:
        return Crossing(False, state.times), False
    return state, False


def exhaustion_before_end(
    remaining: int, rate: float, now: datetime, end: datetime
) -> datetime | None:
    """When ``remaining`` unit-seconds run out at ``rate`` per second, if before ``end``."""
    if remaining <= 0 or rate <= 0:
        return None
    out = now + timedelta(seconds=int(remaining / rate))
    return out if out < end else None


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later (the month's last day when it has fewer)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    days = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, days))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


@dataclass(frozen=True, slots=True)
class UnderConsumptionRule:
    every_months: int = 6
    share_milli: int = 500
    warn_days: int = 30


@dataclass(frozen=True, slots=True)
class Check:
    """A check date of a grant and what must be consumed by then."""

    at: datetime
    required: int

    def warn_from(self, rule: UnderConsumptionRule) -> datetime:
        return self.at - timedelta(days=rule.warn_days)


def check_dates(
    granted: int, start: datetime, end: datetime, rule: UnderConsumptionRule
) -> list[Check]:
    """The grant's check dates (strictly before its end) and the consumption each needs."""
    checks = []
    whole = (end - start).total_seconds()
    n = 1
    while whole > 0 and (at := add_months(start, n * rule.every_months)) < end:
        elapsed = (at - start).total_seconds()
        checks.append(Check(at, int(granted * elapsed * rule.share_milli // (whole * MILLI))))
        n += 1
    return checks


def under_consumption_risk(
    granted: int,
    used: int,
    start: datetime,
    end: datetime,
    now: datetime,
    rule: UnderConsumptionRule,
) -> Check | None:
    """The next check date missed at the average rate since ``start``, when ``now`` is in its
    warning window (``warn_days`` before it); ``None`` otherwise."""
    for check in check_dates(granted, start, end, rule):
        if now >= check.at:
            continue
        if now < check.warn_from(rule):
            return None
        elapsed = (now - start).total_seconds()
        until = (check.at - start).total_seconds()
        projected = used if elapsed <= 0 else int(used * until / elapsed)
        return check if projected < check.required else None
    return None
