"""Accounting periods: calendar quarters by default, months or years when configured.

A period is a half-open UTC interval ``[start, end)`` with a stable label: ``2026Q3``,
``2026-07`` or ``2026``. Labels sort in time order within one scheme.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from allocator.errors import InvalidInput


class PeriodScheme(StrEnum):
    QUARTER = "quarter"
    MONTH = "month"
    YEAR = "year"


# ASCII digits only, matched with ``fullmatch``: ``\d`` would accept other scripts' digits and
# ``$`` a trailing newline, and each such alias of a label would be a separate ledger bucket.
_QUARTER = re.compile(r"([0-9]{4})Q([1-4])")
_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
_YEAR = re.compile(r"([0-9]{4})")


def require_utc(value: datetime, field: str = "time") -> datetime:
    """Refuse naive datetimes; convert aware ones to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "must be a timezone-aware datetime")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True, order=True)
class Period:
    start: datetime
    end: datetime
    label: str

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def overlap_seconds(self, start: datetime, end: datetime) -> int:
        lo = max(self.start, start)
        hi = min(self.end, end)
        return max(0, int((hi - lo).total_seconds()))

    def __str__(self) -> str:
        return self.label


def _month_start(year: int, month: int) -> datetime:
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


#: Years a period may lie in: every period of them starts and ends inside ``datetime``'s range.
MIN_YEAR, MAX_YEAR = 1, 9998


def period_of(label: str, field: str = "period") -> Period:
    """Parse a period label of any scheme."""
    if (m := _YEAR.match(label)) and not MIN_YEAR <= int(m.group(1)) <= MAX_YEAR:
        raise InvalidInput(field, f"{label!r}: the year must be {MIN_YEAR}..{MAX_YEAR}")
    if m := _QUARTER.fullmatch(label):
        year, q = int(m.group(1)), int(m.group(2))
        return Period(_month_start(year, 3 * q - 2), _month_start(year, 3 * q + 1), label)
    if m := _MONTH.fullmatch(label):
        year, month = int(m.group(1)), int(m.group(2))
        return Period(_month_start(year, month), _month_start(year, month + 1), label)
    if m := _YEAR.fullmatch(label):
        year = int(m.group(1))
        return Period(_month_start(year, 1), _month_start(year + 1, 1), label)
    raise InvalidInput(field, f"{label!r} is not a period label (2026Q3, 2026-07 or 2026)")


def scheme_of(label: str) -> PeriodScheme:
    if _QUARTER.fullmatch(label):
        return PeriodScheme.QUARTER
    if _MONTH.fullmatch(label):
        return PeriodScheme.MONTH
    if _YEAR.fullmatch(label):
        return PeriodScheme.YEAR
    raise InvalidInput("period", f"{label!r} is not a period label")


def period_containing(moment: datetime, scheme: PeriodScheme = PeriodScheme.QUARTER) -> Period:
    moment = require_utc(moment)
    if scheme is PeriodScheme.QUARTER:
        return period_of(f"{moment.year}Q{(moment.month - 1) // 3 + 1}")
    if scheme is PeriodScheme.MONTH:
        return period_of(f"{moment.year}-{moment.month:02d}")
    return period_of(f"{moment.year}")


def next_period(period: Period) -> Period:
    return period_containing(period.end, scheme_of(period.label))


def periods_between(
    start: datetime, end: datetime, scheme: PeriodScheme = PeriodScheme.QUARTER
) -> Iterator[Period]:
    """Every period of ``scheme`` that overlaps ``[start, end)``, in order."""
    if end <= start:
        return
    current = period_containing(start, scheme)
    while current.start < end:
        yield current
        current = next_period(current)
