from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocator.errors import InvalidInput
from allocator.periods import (
    Calendar,
    PeriodScheme,
    next_period,
    period_containing,
    period_of,
    periods_between,
)
from allocator.rules import split_pro_rata


def test_quarter_labels_map_to_utc_intervals() -> None:
    q = period_of("2026Q4")
    assert (q.start, q.end) == (datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert q.seconds == 92 * 86400
    assert next_period(q).label == "2027Q1"
    assert period_of("2026-02").seconds == 28 * 86400
    assert (
        period_containing(datetime(2026, 11, 21, tzinfo=UTC), PeriodScheme.MONTH).label == "2026-11"
    )


@pytest.mark.parametrize("label", ["2026Q5", "2026Q0", "2026-13", "26Q1", "", "2026q1"])
def test_malformed_labels_are_refused_naming_the_field(label: str) -> None:
    with pytest.raises(InvalidInput) as err:
        period_of(label)
    assert err.value.field == "period"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidInput):
        period_containing(datetime(2026, 1, 1))


@given(
    amount=st.integers(min_value=1, max_value=10**15),
    start_day=st.integers(min_value=0, max_value=3000),
    days=st.integers(min_value=1, max_value=900),
)
def test_a_grant_split_by_quarter_loses_no_second(amount: int, start_day: int, days: int) -> None:
    start = (
        datetime(2024, 1, 1, tzinfo=UTC)
        .fromordinal(datetime(2024, 1, 1).toordinal() + start_day)
        .replace(tzinfo=UTC)
    )
    end = start.fromordinal(start.toordinal() + days).replace(tzinfo=UTC)
    parts = split_pro_rata(amount, start, end, Calendar(PeriodScheme.QUARTER))
    assert sum(share for _, share in parts) == amount
    assert all(share >= 0 for _, share in parts)
    assert [p.label for p, _ in parts] == [p.label for p in periods_between(start, end)]
