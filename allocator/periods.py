"""Accounting periods: calendar quarters by default, months or years when configured.

A period is a half-open interval ``[start, end)`` of UTC instants with a stable label:
``2026Q3``, ``2026-07`` or ``2026``. Labels sort in time order within one scheme.

A :class:`Calendar` is how a site counts time: one period scheme and one time zone (an IANA
name). Its periods and days begin at local midnight: with ``Europe/Paris``, 2027Q1 begins at
``2026-12-31 23:00 UTC``. The module-level functions are the UTC calendar of any scheme.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def _month_start(year: int, month: int, zone: tzinfo = UTC) -> datetime:
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=zone).astimezone(UTC)


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


# --- the site's calendar ----------------------------------------------------------------------

_EXAMPLES = {
    PeriodScheme.QUARTER: "2026Q3",
    PeriodScheme.MONTH: "2026-07",
    PeriodScheme.YEAR: "2026",
}
_PATTERNS = {PeriodScheme.QUARTER: _QUARTER, PeriodScheme.MONTH: _MONTH, PeriodScheme.YEAR: _YEAR}
#: What follows the year in a label of each scheme (as in :data:`_PATTERNS`).
_SUFFIXES = {
    PeriodScheme.QUARTER: "Q[1-4]",
    PeriodScheme.MONTH: "-(0[1-9]|1[0-2])",
    PeriodScheme.YEAR: "",
}
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@lru_cache(maxsize=64)
def zone_of(name: str, field: str = "time_zone") -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Paris``), or :class:`InvalidInput`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(field, f"{name!r} is not an IANA time zone (e.g. Europe/Paris)") from exc


@dataclass(frozen=True, slots=True)
class Calendar:
    """A site's periods and days: one scheme, one time zone, a sane range of years.

    ``check`` is the one gate every period label given by a person goes through: a label of
    another scheme, or one outside ``years_back``/``years_ahead`` around today, is refused.
    """

    scheme: PeriodScheme = PeriodScheme.QUARTER
    zone_name: str = "UTC"
    years_back: int = 5
    years_ahead: int = 5

    def __post_init__(self) -> None:
        zone_of(self.zone_name)

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.zone_name)

    @property
    def example(self) -> str:
        return _EXAMPLES[self.scheme]

    def period(self, label: str, field: str = "period") -> Period:
        """The period of a label of this calendar's scheme (any year); no range check."""
        year, first, months = self._parse(label, field)
        if not MIN_YEAR < year < MAX_YEAR:  # a day of margin for any time zone's offset
            raise InvalidInput(
                field,
                f"{label!r} is out of range of {self.scheme.value}s"
                f" ({MIN_YEAR + 1}..{MAX_YEAR - 1})",
            )
        return Period(
            _month_start(year, first, self.zone),
            _month_start(year, first + months, self.zone),
            label,
        )

    def _parse(self, label: str, field: str) -> tuple[int, int, int]:
        """``(year, first month, months)`` of a label of this scheme, or :class:`InvalidInput`."""
        m = _PATTERNS[self.scheme].fullmatch(label) if isinstance(label, str) else None
        if m is None:
            raise InvalidInput(
                field,
                f"{label!r} is not a period label of this site: periods are {self.scheme.value}s,"
                f" labelled like {self.example}",
            )
        if self.scheme is PeriodScheme.QUARTER:
            return int(m.group(1)), 3 * int(m.group(2)) - 2, 3
        if self.scheme is PeriodScheme.MONTH:
            return int(m.group(1)), int(m.group(2)), 1
        return int(m.group(1)), 1, 12

    def check(self, label: str, now: datetime, field: str = "period") -> Period:
        """:meth:`period`, refused unless it lies within the sane range around ``now``.

        The one gate for a period label given by a person (API field, query or path parameter,
        CLI option): another scheme's label, or a year more than ``years_back`` before or
        ``years_ahead`` after the current one, is :class:`InvalidInput` naming ``field``, the
        scheme and an example (or the range)."""
        year = self._parse(label, field)[0]
        current = self.local(now).year
        if not current - self.years_back <= year <= current + self.years_ahead:
            first, last = self.bounds(now)
            raise InvalidInput(
                field,
                f"{label!r} is out of range: this site's {self.scheme.value}s run from {first}"
                f" to {last} ({self.years_back} years back, {self.years_ahead} ahead)",
            )
        return self.period(label, field)

    def label_pattern(self, now: datetime) -> str:
        """The labels :meth:`check` accepts at ``now``, as one regular expression (the API
        documents it as the ``pattern`` of every period): this scheme, these years."""
        year = self.local(now).year
        years = "|".join(str(y) for y in range(year - self.years_back, year + self.years_ahead + 1))
        return f"^({years}){_SUFFIXES[self.scheme]}$"

    def check_or_current(self, label: str | None, now: datetime, field: str = "period") -> Period:
        """:meth:`check` of a label given, else the period containing ``now`` (the default of
        every read whose period is optional)."""
        return self.containing(now) if label is None else self.check(label, now, field)

    def bounds(self, now: datetime) -> tuple[Period, Period]:
        """The first and last period :meth:`check` accepts at ``now``."""
        year = self.local(now).year
        first = self.containing(_month_start(year - self.years_back, 1, self.zone))
        last = self.containing(_month_start(year + self.years_ahead + 1, 1, self.zone) - _SECOND)
        return first, last

    def containing(self, moment: datetime) -> Period:
        local = self.local(moment)
        if self.scheme is PeriodScheme.QUARTER:
            return self.period(f"{local.year}Q{(local.month - 1) // 3 + 1}")
        if self.scheme is PeriodScheme.MONTH:
            return self.period(f"{local.year}-{local.month:02d}")
        return self.period(f"{local.year}")

    def next(self, period: Period) -> Period:
        return self.containing(period.end)

    def previous(self, period: Period) -> Period:
        return self.containing(period.start - _SECOND)

    def between(self, start: datetime, end: datetime) -> Iterator[Period]:
        """Every period that overlaps ``[start, end)``, in order."""
        if end <= start:
            return
        current = self.containing(start)
        while current.start < end:
            yield current
            current = self.next(current)

    def local(self, moment: datetime) -> datetime:
        return require_utc(moment).astimezone(self.zone)

    def day_of(self, moment: datetime) -> int:
        """The local day of ``moment``: days since 1970-01-01 in the site's calendar."""
        return self.local(moment).date().toordinal() - _EPOCH_ORDINAL

    def day_start(self, day: int) -> datetime:
        """The UTC instant at which local day ``day`` begins (days last 23, 24 or 25 hours)."""
        local = date.fromordinal(day + _EPOCH_ORDINAL)
        return datetime(local.year, local.month, local.day, tzinfo=self.zone).astimezone(UTC)


_SECOND = timedelta(seconds=1)
