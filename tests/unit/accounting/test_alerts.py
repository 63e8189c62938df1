"""Worked examples of the threshold, forecast and under-consumption rules."""

from __future__ import annotations

from datetime import UTC, datetime

from accounting.alerts import (
    Crossing,
    UnderConsumptionRule,
    add_months,
    check_dates,
    exhaustion_before_end,
    threshold_step,
    under_consumption_risk,
)

H = 3600


def walk(used: list[int], allotted: int, percent: int) -> list[bool]:
    state, fired = Crossing(), []
    for u in used:
        state, told = threshold_step(state, u, allotted, percent)
        fired.append(told)
    return fired


class TestThresholds:
    def test_crossed_uncrossed_by_an_adjustment_and_crossed_again_tells_twice(self) -> None:
        # 100 h allotted: 79 h, 80 h (crossing 1), 85 h, an adjustment brings 80 h to 70 %
        # (allotment 120 h is modelled by 84 of 120 = 70 %), then 100 h of 120 (83 %: crossing 2)
        state = Crossing()
        steps = [(79 * H, 100 * H), (80 * H, 100 * H), (85 * H, 100 * H), (84 * H, 120 * H)]
        steps += [(100 * H, 120 * H)]
        told = []
        for used, allotted in steps:
            state, fired = threshold_step(state, used, allotted, 80)
            told.append(fired)
        assert told == [False, True, False, False, True]
        assert state == Crossing(True, 2)

    def test_a_reingest_of_the_same_usage_tells_nothing_more(self) -> None:
        assert walk([90 * H, 90 * H, 90 * H], 100 * H, 80) == [True, False, False]

    def test_nothing_allotted_never_crosses(self) -> None:
        assert walk([5 * H], 0, 100) == [False]

    def test_exactly_the_threshold_is_a_crossing(self) -> None:
        assert walk([100 * H], 100 * H, 100) == [True]


class TestForecast:
    def test_hours_running_out_before_the_period_ends_are_foreseen(self) -> None:
        now = datetime(2026, 11, 1, tzinfo=UTC)
        end = datetime(2027, 1, 1, tzinfo=UTC)
        # 10 days of hours left at 2 units/second: gone on 11 November
        gone = exhaustion_before_end(10 * 86400 * 2, 2.0, now, end)
        assert gone == datetime(2026, 11, 11, tzinfo=UTC)
        # 90 days left: after the end, nothing to tell
        assert exhaustion_before_end(90 * 86400 * 2, 2.0, now, end) is None
        assert exhaustion_before_end(100, 0.0, now, end) is None


class TestUnderConsumption:
    START = datetime(2027, 1, 1, tzinfo=UTC)
    END = datetime(2028, 1, 1, tzinfo=UTC)
    RULE = UnderConsumptionRule(every_months=6, share_milli=500, warn_days=30)

    def test_a_12_month_grant_has_one_check_on_1_july_needing_a_quarter_of_it(self) -> None:
        (check,) = check_dates(365_000 * H, self.START, self.END, self.RULE)
        assert check.at == datetime(2027, 7, 1, tzinfo=UTC)
        # 181 of 365 days elapsed, half of that pro-rata share: 90 500 h
        assert check.required == 90_500 * H
        assert check.warn_from(self.RULE) == datetime(2027, 6, 1, tzinfo=UTC)

    def test_the_warning_comes_in_june_for_a_pool_that_will_miss_1_july(self) -> None:
        granted = 365_000 * H
        may = datetime(2027, 5, 31, tzinfo=UTC)
        june = datetime(2027, 6, 1, tzinfo=UTC)
        slow = 40_000 * H  # by 1 June (151 days): about 48 000 h by 1 July, under 90 500
        assert under_consumption_risk(granted, slow, self.START, self.END, may, self.RULE) is None
        warned = under_consumption_risk(granted, slow, self.START, self.END, june, self.RULE)
        assert warned is not None and warned.at == datetime(2027, 7, 1, tzinfo=UTC)

    def test_a_pool_on_pace_is_not_warned(self) -> None:
        june = datetime(2027, 6, 1, tzinfo=UTC)
        on_pace = 151_000 * H
        assert (
            under_consumption_risk(365_000 * H, on_pace, self.START, self.END, june, self.RULE)
            is None
        )

    def test_months_are_added_on_the_calendar(self) -> None:
        assert add_months(datetime(2027, 1, 31, tzinfo=UTC), 1) == datetime(2027, 2, 28, tzinfo=UTC)
        assert add_months(datetime(2027, 8, 15, tzinfo=UTC), 6) == datetime(2028, 2, 15, tzinfo=UTC)
