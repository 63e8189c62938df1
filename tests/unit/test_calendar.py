"""The site's calendar: one scheme, one time zone, a sane range of years."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from allocator.errors import InvalidInput
from allocator.periods import Calendar, PeriodScheme

TODAY = datetime(2026, 12, 4, 12, tzinfo=UTC)
PARIS = Calendar(PeriodScheme.QUARTER, "Europe/Paris")


def test_a_paris_quarter_begins_at_paris_midnight() -> None:
    q1 = PARIS.period("2027Q1")
    assert q1.start == datetime(2026, 12, 31, 23, tzinfo=UTC)  # CET, UTC+1
    assert q1.end == datetime(2027, 3, 31, 22, tzinfo=UTC)  # CEST, UTC+2
    assert PARIS.next(PARIS.period("2026Q4")) == q1
    assert PARIS.previous(q1).label == "2026Q4"


def test_the_utc_calendar_is_the_old_one() -> None:
    q = Calendar().period("2026Q4")
    assert (q.start, q.end) == (datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_half_past_eleven_utc_on_new_years_eve_is_already_next_year_in_paris() -> None:
    assert PARIS.containing(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)).label == "2027Q1"
    assert PARIS.containing(datetime(2026, 12, 31, 22, 59, tzinfo=UTC)).label == "2026Q4"


def test_local_days_last_23_and_25_hours_on_dst_changes() -> None:
    spring = PARIS.day_of(datetime(2026, 3, 29, 12, tzinfo=UTC))
    autumn = PARIS.day_of(datetime(2026, 10, 25, 12, tzinfo=UTC))
    hours = [
        (PARIS.day_start(d + 1) - PARIS.day_start(d)).total_seconds() / 3600
        for d in (spring, autumn)
    ]
    assert hours == [23, 25]
    assert PARIS.day_of(PARIS.day_start(spring)) == spring


@pytest.mark.parametrize("label", ["2026", "2026-10", "2026-11", "2026q4", " 2026Q4", "2026Q4\n"])
def test_labels_of_another_scheme_are_refused_naming_the_scheme_and_an_example(label: str) -> None:
    with pytest.raises(InvalidInput) as err:
        PARIS.check(label, TODAY)
    assert err.value.field == "period"
    assert "quarters" in err.value.reason and "2026Q3" in err.value.reason


@pytest.mark.parametrize("label", ["0001Q1", "1970Q1", "9999Q4", "2020Q4", "2032Q1"])
def test_labels_far_from_today_are_refused(label: str) -> None:
    with pytest.raises(InvalidInput, match="out of range") as err:
        PARIS.check(label, TODAY)
    assert err.value.field == "period"
    assert "quarters run from 2021Q1 to 2031Q4" in err.value.reason


def test_the_range_is_five_years_each_side_of_the_current_year() -> None:
    first, last = PARIS.bounds(TODAY)
    assert (first.label, last.label) == ("2021Q1", "2031Q4")
    assert PARIS.check("2021Q1", TODAY).label == "2021Q1"


def test_month_and_year_calendars_speak_their_own_labels() -> None:
    months = Calendar(PeriodScheme.MONTH, "Europe/Paris")
    assert months.check("2026-08", TODAY).start == datetime(2026, 7, 31, 22, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="months, labelled like 2026-07"):
        months.check("2026Q3", TODAY)
    years = Calendar(PeriodScheme.YEAR)
    assert [p.label for p in years.between(TODAY, datetime(2028, 1, 2, tzinfo=UTC))] == [
        "2026",
        "2027",
        "2028",
    ]


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        Calendar(PeriodScheme.QUARTER, "Europe/Atlantis")
    assert err.value.field == "time_zone"


@pytest.mark.parametrize("scheme", list(PeriodScheme))
def test_the_documented_label_pattern_accepts_exactly_the_labels_the_calendar_accepts(
    scheme: PeriodScheme,
) -> None:
    """The API documents ``label_pattern`` as every period's pattern: a client that follows it
    is never refused, and nothing it rules out would have been accepted."""
    calendar = Calendar(scheme, "Europe/Paris")
    pattern = re.compile(calendar.label_pattern(TODAY))
    labels = [
        f"{year:04d}{suffix}"
        for year in (*range(2015, 2038), 1, 999, 9998)
        for suffix in ("", "Q0", "Q1", "Q4", "Q5", "-00", "-01", "-09", "-10", "-12", "-13")
    ]
    for label in [*labels, "2026q1", "26Q1", "2026Q1\n", "２０２６Q1", "2026-1", ""]:
        try:
            calendar.check(label, TODAY)
            accepted = True
        except InvalidInput:
            accepted = False
        assert bool(pattern.fullmatch(label)) is accepted, (scheme, label)
    assert pattern.fullmatch(calendar.example.replace("2026", "2031"))
    assert not pattern.fullmatch(calendar.example.replace("2026", "2032"))
