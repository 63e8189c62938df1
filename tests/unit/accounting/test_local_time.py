"""Periods and days in the site's time zone: the worked examples of ``accounting.charging``.

ENACT counts in Paris time, like the cluster's ``sreport`` and the national centre. 2027Q1
begins at midnight in Paris, which is 23:00 UTC on 31 December 2026; 29 March 2026 lasts 23
hours and 25 October 2026 lasts 25 hours. Every figure below is worked out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from accounting.booking import book
from accounting.burn import burn_rate, window_of
from accounting.charging import UTC_QUARTERS, Charge, charge, local_days
from accounting.usage import UsageRecord
from allocator.model import MILLI, Rate
from allocator.periods import Calendar, PeriodScheme
from tests.builders import EPOCH, local_pool, usage_record

H = 3600
PARIS = Calendar(zone_name="Europe/Paris")
PARIS_TIME = ZoneInfo("Europe/Paris")


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


def paris(*args: int) -> int:
    """Epoch seconds of a Paris wall-clock time."""
    return int(datetime(*args, tzinfo=PARIS_TIME).timestamp())  # type: ignore[misc]


def job(start: int, elapsed: int, gpus: int = 1) -> UsageRecord:
    return usage_record(start, elapsed, gpus)


def per_period(charges: list[Charge]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in charges:
        out[c.period] = out.get(c.period, 0) + c.gpu_seconds
    return out


def per_day(charges: list[Charge]) -> dict[int, int]:
    out: dict[int, int] = {}
    for c in charges:
        out[c.day] = out.get(c.day, 0) + c.gpu_seconds
    return out


# --- the worked examples --------------------------------------------------------------------


def test_a_job_across_new_year_books_half_an_hour_in_each_quarter_in_paris() -> None:
    new_years_eve = job(utc(2026, 12, 31, 22, 30), H)  # 23:30 - 00:30 in Paris
    assert per_period(charge(new_years_eve, local_pool(), PARIS)) == {
        "2026Q4": 1800,
        "2027Q1": 1800,
    }
    # the UTC site books the whole hour in 2026Q4: the hour sreport would count differently
    assert per_period(charge(new_years_eve, local_pool(), UTC_QUARTERS)) == {"2026Q4": 3600}


def test_paris_quarters_begin_at_local_midnight_and_2026q4_lasts_92_days_and_an_hour() -> None:
    q4, q1 = PARIS.period("2026Q4"), PARIS.period("2027Q1")
    assert q4.start == datetime(2026, 9, 30, 22, tzinfo=UTC)  # summer time, UTC+2
    assert q4.end == q1.start == datetime(2026, 12, 31, 23, tzinfo=UTC)  # winter, UTC+1
    assert q4.seconds == 92 * 24 * H + H


def test_the_spring_day_of_23_hours_is_split_exactly() -> None:
    # 2 GPUs from Saturday noon to Monday noon, Paris time, over 29 March 2026 (02:00 -> 03:00)
    weekend = job(paris(2026, 3, 28, 12), paris(2026, 3, 30, 12) - paris(2026, 3, 28, 12), 2)
    assert weekend.elapsed == 47 * H
    sunday = PARIS.day_of(datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert local_days(PARIS).start(sunday) == utc(2026, 3, 28, 23)
    assert local_days(PARIS).start(sunday + 1) == utc(2026, 3, 29, 22)
    charges = charge(weekend, local_pool(), PARIS, split_days=True)
    assert per_day(charges) == {sunday - 1: 2 * 12 * H, sunday: 2 * 23 * H, sunday + 1: 2 * 12 * H}
    assert [c.start for c in charges] == [weekend.start, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)]


def test_the_autumn_day_of_25_hours_is_split_exactly() -> None:
    # the same job over 25 October 2026 (03:00 -> 02:00)
    weekend = job(paris(2026, 10, 24, 12), paris(2026, 10, 26, 12) - paris(2026, 10, 24, 12), 2)
    assert weekend.elapsed == 49 * H
    sunday = PARIS.day_of(datetime(2026, 10, 25, 12, tzinfo=UTC))
    charges = charge(weekend, local_pool(), PARIS, split_days=True)
    assert per_day(charges) == {sunday - 1: 2 * 12 * H, sunday: 2 * 25 * H, sunday + 1: 2 * 12 * H}
    assert {c.period for c in charges} == {"2026Q4"}


def test_booked_rows_carry_the_local_day_and_utc_rows_keep_epoch_days() -> None:
    late_evening = job(utc(2026, 11, 2, 22, 30), H)  # 23:30 - 00:30 in Paris
    rows = book(late_evening, [local_pool()], PARIS)
    assert [(r.day, r.gpu_seconds) for r in rows] == [
        (utc(2026, 11, 2) // 86400, 1800),  # Monday 2 November in Paris
        (utc(2026, 11, 3) // 86400, 1800),  # Tuesday 3 November
    ]
    assert [(r.day, r.gpu_seconds) for r in book(late_evening, [local_pool()])] == [
        (utc(2026, 11, 2) // 86400, 3600)
    ]


def test_a_month_site_cuts_at_paris_month_ends() -> None:
    months = Calendar(PeriodScheme.MONTH, "Europe/Paris")
    last_of_march = job(utc(2026, 3, 31, 21), 2 * H)  # 23:00 - 01:00 in Paris (summer time)
    assert per_period(charge(last_of_march, local_pool(), months)) == {
        "2026-03": H,
        "2026-04": H,
    }


def test_burn_over_the_23_hour_day_is_exactly_the_gpus_busy() -> None:
    # 2 GPUs busy every hour of the 7 local days up to midnight after Sunday 29 March 2026
    now = paris(2026, 3, 30)
    first, today = window_of(now, 7, PARIS)
    days = local_days(PARIS)
    daily = {d: 2 * (days.start(d + 1) - days.start(d)) for d in range(first, today)}
    assert daily[today - 1] == 2 * 23 * H
    assert sum(daily.values()) == 5 * 2 * 24 * H + 2 * 23 * H
    assert burn_rate(daily, now, 7, PARIS) == 2.0


def test_a_rate_change_at_local_midnight_applies_from_that_instant() -> None:
    raise_at = datetime(2027, 1, 1, tzinfo=PARIS_TIME)  # 2026-12-31 23:00 UTC
    pool = local_pool(rates=(Rate("a100", MILLI, EPOCH), Rate("a100", 2 * MILLI, raise_at)))
    charges = charge(job(utc(2026, 12, 31, 22), 2 * H), pool, PARIS)
    assert [(c.period, c.gpu_seconds, c.units) for c in charges] == [
        ("2026Q4", H, H),
        ("2027Q1", H, 2 * H),
    ]


# --- no GPU-second lost at a local boundary --------------------------------------------------

ZONES = [
    "Europe/Paris",
    "America/Sao_Paulo",
    "Asia/Kolkata",  # UTC+5:30
    "Pacific/Chatham",  # UTC+12:45 / +13:45
    "America/St_Johns",  # UTC-3:30 / -2:30
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "UTC",
]


@st.composite
def near_boundaries(draw: st.DrawFn) -> tuple[Calendar, UsageRecord]:
    """A job starting within a few hours of a local midnight (a day, a quarter or year
    boundary, or a DST day), in one of several zones and schemes."""
    calendar = Calendar(draw(st.sampled_from(list(PeriodScheme))), draw(st.sampled_from(ZONES)))
    year = draw(st.integers(2024, 2028))
    month = draw(st.sampled_from([1, 3, 4, 7, 10, 11]))
    day = draw(st.integers(1, 31 if month in (1, 3, 7, 10) else 30))
    midnight = datetime(year, month, day, tzinfo=calendar.zone).astimezone(UTC)
    start = int(midnight.timestamp()) + draw(st.integers(-3 * H, 3 * H))
    elapsed = draw(st.one_of(st.integers(1, 6 * H), st.integers(1, 100 * 24 * H)))
    return calendar, usage_record(start, elapsed, draw(st.integers(1, 8)))


@settings(max_examples=300, deadline=None)
@given(case=near_boundaries(), rate_milli=st.integers(1, 5_000))
def test_no_gpu_second_is_lost_or_doubled_at_a_local_boundary(
    case: tuple[Calendar, UsageRecord], rate_milli: int
) -> None:
    calendar, record = case
    assert record.start is not None
    pool = local_pool(rates=(Rate("a100", rate_milli, EPOCH),))
    charges = charge(record, pool, calendar, split_days=True)
    begin, finish = record.start, record.start + record.elapsed
    days = local_days(calendar)
    # contiguous, complete, each part inside one local day and one period of the calendar
    assert [c.start for c in charges] == [begin] + [c.end for c in charges[:-1]]
    assert charges[-1].end == finish
    for c in charges:
        assert days.start(c.day) <= c.start < c.end <= days.start(c.day + 1)
        assert c.day == calendar.day_of(datetime.fromtimestamp(c.start, UTC))
        period = calendar.containing(datetime.fromtimestamp(c.start, UTC))
        assert c.period == period.label
        assert c.end <= period.end.timestamp()
        assert c.gpu_seconds == record.gpus * (c.end - c.start)
    # per local day: exactly the overlap of the run with that day, however long the day
    for d, seconds in per_day(charges).items():
        lo, hi = max(begin, days.start(d)), min(finish, days.start(d + 1))
        assert seconds == record.gpus * (hi - lo)
    assert sum(c.gpu_seconds for c in charges) == record.gpus * record.elapsed
    assert sum(c.units for c in charges) == record.gpus * record.elapsed * rate_milli // MILLI
    # the day split changes nothing but the cuts: same totals per period
    whole = charge(record, pool, calendar)
    assert per_period(whole) == per_period(charges)
    assert sum(c.units for c in whole) == sum(c.units for c in charges)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    seconds=st.integers(utc(1990, 1, 1), utc(2060, 1, 1)),
)
def test_the_cached_local_days_agree_with_the_calendar(zone: str, seconds: int) -> None:
    calendar = Calendar(zone_name=zone)
    days = local_days(calendar)
    moment = datetime.fromtimestamp(seconds, UTC)
    day = days.of(seconds)
    assert day == calendar.day_of(moment)
    assert days.start(day) == calendar.day_start(day).timestamp() <= seconds
    assert seconds < days.start(day + 1)
    assert timedelta(hours=22) <= calendar.day_start(day + 1) - calendar.day_start(day)
