"""The charging of a record equals the slow reference's (the implementation before issue 17,
kept in ``charging_reference.py``), charge for charge, over generated jobs, rate histories,
billing modes, calendars, clipping instants and day splits: the same periods, days, GPU
types, rates, GPU-seconds and units, or the same missing rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounting.charging import Charge, RateNotFound, charge
from accounting.usage import UsageRecord
from allocator.model import BillingMode, Rate
from allocator.periods import Calendar, PeriodScheme
from tests.unit.accounting.charging_reference import reference_charge
from tests.unit.accounting.charging_support import DAY, LONG_AGO, job, moment, pool
from tests.unit.accounting.test_charging_properties import (
    MAX_ELAPSED,
    TWO_YEARS,
    WINDOW_START,
    rates,
    records,
)

CALENDARS = (
    Calendar(),
    Calendar(PeriodScheme.MONTH),
    Calendar(zone_name="Europe/Paris"),
    Calendar(PeriodScheme.MONTH, "America/New_York"),
)


#: A month where the jobs below run and their pool's rates change, so that changes fall
#: inside runs (at whole seconds or not), at midnights and at period starts.
START = WINDOW_START + 89 * DAY  # 31 March 2025: a quarter starts in the month
SPAN = 30 * DAY


@st.composite
def close_rates(draw: st.DrawFn) -> tuple[Rate, ...]:
    out: list[Rate] = []
    for gpu_type in ("a100", "h100", ""):
        out.append(Rate(gpu_type, draw(st.integers(1, 10_000)), LONG_AGO))
        for _ in range(draw(st.integers(0, 3))):
            instant = draw(st.integers(START, START + SPAN) | st.sampled_from([START + DAY]))
            micro = draw(st.sampled_from([0, 1, 500_000, 999_999]))
            when = moment(instant) + timedelta(microseconds=micro)
            out.append(Rate(gpu_type, draw(st.integers(1, 10_000)), when))
    return tuple(out)


@st.composite
def close_jobs(draw: st.DrawFn) -> UsageRecord:
    gpus = draw(st.integers(1, 16))
    typed = draw(st.integers(0, gpus))
    return job(
        draw(st.integers(START - DAY, START + SPAN)),
        draw(st.integers(1, 10 * DAY)),
        gpus,
        types=(("a100", typed),) if typed else (),
        state=draw(st.sampled_from(["COMPLETED", "RUNNING"])),
        partition=draw(st.sampled_from(["gpu_p5", "other"])),
        cpus=draw(st.integers(0, 128)),
        nodes=draw(st.integers(0, 2)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    jobs=st.lists(close_jobs(), min_size=1, max_size=4),
    the_rates=close_rates(),
    mode=st.sampled_from(list(BillingMode)),
    calendar=st.sampled_from(CALENDARS),
    split_days=st.booleans(),
    clip=st.none() | st.integers(START, START + SPAN),
)
def test_rates_changing_inside_runs_are_charged_as_the_slow_reference_charges_them(
    jobs: list[UsageRecord],
    the_rates: tuple[Rate, ...],
    mode: BillingMode,
    calendar: Calendar,
    split_days: bool,
    clip: int | None,
) -> None:
    the_pool = pool(*reversed(the_rates), mode=mode)
    now = None if clip is None else moment(clip)
    for record in jobs:
        fast = outcome(charge, record, the_pool, calendar, now, split_days=split_days)
        slow = outcome(reference_charge, record, the_pool, calendar, now, split_days=split_days)
        assert fast == slow


def outcome(charging: object, *args: object, **kw: object) -> list[Charge] | str:
    try:
        return charging(*args, **kw)  # type: ignore[operator,no-any-return]
    except RateNotFound as exc:
        return f"no rate: {exc}"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    jobs=st.lists(records(), min_size=1, max_size=4),
    the_rates=rates(),
    unrated=st.sets(st.sampled_from(["a100", "h100", "v100", ""]), max_size=2),
    mode=st.sampled_from(list(BillingMode)),
    calendar=st.sampled_from(CALENDARS),
    split_days=st.booleans(),
    clip=st.none() | st.integers(WINDOW_START, WINDOW_START + TWO_YEARS + MAX_ELAPSED),
)
def test_the_charges_of_a_job_set_equal_the_slow_references(
    jobs: list[UsageRecord],
    the_rates: tuple[Rate, ...],
    unrated: set[str],
    mode: BillingMode,
    calendar: Calendar,
    split_days: bool,
    clip: int | None,
) -> None:
    # some GPU types without any rate, and rates listed out of time order, as pools may be
    kept = tuple(reversed([r for r in the_rates if r.gpu_type not in unrated]))
    the_pool = pool(*kept, mode=mode)
    now: datetime | None = None if clip is None else moment(clip).astimezone(UTC)
    for record in jobs:
        fast = outcome(charge, record, the_pool, calendar, now, split_days=split_days)
        slow = outcome(reference_charge, record, the_pool, calendar, now, split_days=split_days)
        assert fast == slow
