"""Burn rates and projected exhaustion, from daily consumption.

Pure. ``daily`` maps a local day of the site's calendar (days since 1970-01-01 in its time
zone; in UTC ``seconds // 86400``) to the unit-seconds consumed that day (final and provisional
together: a running job burns too).

The burn rate over a window of ``w`` days at ``now`` is the consumption of the days
``today - w + 1 .. today`` divided by the seconds elapsed since the first of them began
(``w - 1`` whole local days, which last 23, 24 or 25 hours, plus the part of today gone by):
unit-seconds per second, i.e. the number of the pool's units busy on average. Example: 7 days
of 2 GPUs busy all day at rate 1 give 7 x 172 800 units over 7 x 86 400 s (at midnight the
elapsed part of today is 0 and today has consumed 0) -> 6 x 172 800 / (6 x 86 400) = **2.0**.
In Paris, at midnight after the 23-hour day of 29 March, the same 2 GPUs give
5 x 172 800 + 165 600 units over 5 x 86 400 + 82 800 s: still exactly **2.0**.

Projected exhaustion: when ``remaining`` units run out at that rate, ``now + remaining / rate``,
**only if that falls before the end of the period** the balance belongs to: a date after it
would name a day of another period, whose hours are not these, so it is reported as
:attr:`Outlook.NOT_BEFORE_PERIOD_END` with no date. The outlook of a balance is one of
:class:`Outlook`; the date is given with ``BEFORE_PERIOD_END`` only. Example: 2026Q4 ends at
``2027-01-01``; a project with 10 h left burning 1 h a day runs out 10 days from
``2026-11-21`` (``BEFORE_PERIOD_END``, ``2026-12-01``); burning 0.05 h a day it would last 200
days, into 2027Q2: ``NOT_BEFORE_PERIOD_END``, no date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from accounting.charging import UTC_QUARTERS, local_days
from allocator.periods import Calendar

WINDOWS = (7, 30)


def window_of(now: int, window_days: int, calendar: Calendar = UTC_QUARTERS) -> tuple[int, int]:
    """The local days ``(first, today)`` of the window of ``window_days`` days ending at
    ``now`` (epoch seconds)."""
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    today = local_days(calendar).of(now)
    return today - window_days + 1, today


def elapsed_in(now: int, window_days: int, calendar: Calendar = UTC_QUARTERS) -> int:
    """Seconds from the start of the window of ``window_days`` days ending at ``now`` to
    ``now``: what a rate over that window divides by."""
    first, _today = window_of(now, window_days, calendar)
    return now - local_days(calendar).start(first)


def rate_in(used: int, elapsed: int) -> float:
    """Unit-seconds per second when ``used`` was consumed over ``elapsed`` seconds
    (:func:`elapsed_in`): what :func:`rate_over` gives, for many projects at one instant."""
    if elapsed <= 0:
        return 0.0
    return max(used, 0) / elapsed


def rate_over(used: int, now: int, window_days: int, calendar: Calendar = UTC_QUARTERS) -> float:
    """Unit-seconds per second when ``used`` was consumed over the last ``window_days`` days
    up to ``now`` (the days ``today - window_days + 1 .. today``)."""
    return rate_in(used, elapsed_in(now, window_days, calendar))


def burn_rate(
    daily: Mapping[int, int], now: int, window_days: int, calendar: Calendar = UTC_QUARTERS
) -> float:
    """Unit-seconds consumed per second over the last ``window_days`` days up to ``now``."""
    first, today = window_of(now, window_days, calendar)
    used = sum(v for day, v in daily.items() if first <= day <= today)
    return rate_over(used, now, window_days, calendar)


def projected_exhaustion(remaining: int, rate: float, now: int) -> int | None:
    """Epoch second at which ``remaining`` unit-seconds are used up at ``rate`` per second."""
    if remaining <= 0 or rate <= 0:
        return None
    return now + int(remaining / rate)


class Outlook(StrEnum):
    """Whether a balance runs out before its period ends, at the 7-day burn rate."""

    #: it runs out at the projected exhaustion, before the period's end
    BEFORE_PERIOD_END = "before_period_end"
    #: at that pace it lasts beyond the period's end (or nothing is burnt, or the period ended)
    NOT_BEFORE_PERIOD_END = "not_before_period_end"
    #: nothing remains of what was allocated
    EXHAUSTED = "exhausted"
    #: nothing was allocated: nothing to exhaust
    NO_ALLOCATION = "no_allocation"


@dataclass(frozen=True, slots=True)
class Burn:
    rate_7d: float
    rate_30d: float
    #: epoch second the remaining hours run out, given only before the period's end
    exhaustion: int | None
    outlook: Outlook = Outlook.NO_ALLOCATION

    @property
    def exhausts_before_period_end(self) -> bool:
        """Runs out before the period's end, or already has."""
        return self.outlook in (Outlook.BEFORE_PERIOD_END, Outlook.EXHAUSTED)


def outlook_of(
    remaining: int, allocated: int, rate: float, now: int, period_end: int
) -> tuple[Outlook, int | None]:
    """The outlook of a balance and its exhaustion (only before ``period_end``)."""
    if allocated <= 0:
        return Outlook.NO_ALLOCATION, None
    if remaining <= 0:
        return Outlook.EXHAUSTED, None
    at = projected_exhaustion(remaining, rate, now)
    if at is None or at >= period_end:
        return Outlook.NOT_BEFORE_PERIOD_END, None
    return Outlook.BEFORE_PERIOD_END, at


def burn_of(
    used_7d: int,
    used_30d: int,
    now: int,
    remaining: int,
    allocated: int,
    calendar: Calendar = UTC_QUARTERS,
    *,
    period_end: int,
) -> Burn:
    """The burn of a project that consumed ``used_7d`` and ``used_30d`` unit-seconds over the
    two windows of :data:`WINDOWS`, for a balance of the period ending at ``period_end``."""
    short, long = WINDOWS
    r7 = rate_over(used_7d, now, short, calendar)
    outlook, exhaustion = outlook_of(remaining, allocated, r7, now, period_end)
    return Burn(r7, rate_over(used_30d, now, long, calendar), exhaustion, outlook)


def burn(
    daily: Mapping[int, int],
    now: int,
    remaining: int,
    allocated: int,
    calendar: Calendar = UTC_QUARTERS,
    *,
    period_end: int,
) -> Burn:
    used = []
    for w in WINDOWS:
        first, today = window_of(now, w, calendar)
        used.append(sum(v for day, v in daily.items() if first <= day <= today))
    return burn_of(used[0], used[1], now, remaining, allocated, calendar, period_end=period_end)
