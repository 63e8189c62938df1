"""Booking a chunk at once (``ChunkBooker``) books every record exactly as ``book`` does, row
for row and in the same order, and, for priced pools, as the slow reference charging
(``charging_reference.py``) says: over generated jobs, rate histories (changes inside runs,
types without rates), routes (by partition, cluster-wide, dated grants, none), billing modes,
calendars (time zones with DST, months) and clipping instants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounting.booking import book
from accounting.chunk_booking import ChunkBooker, Row, booking_row
from accounting.usage import UsageRecord
from allocator.model import BillingMode, ClusterRoute, Pool, Rate
from allocator.periods import Calendar
from tests.unit.accounting.charging_reference import reference_charge
from tests.unit.accounting.charging_support import LONG_AGO, moment, pool
from tests.unit.accounting.test_charging_differential import (
    CALENDARS,
    SPAN,
    START,
    close_jobs,
    close_rates,
)
from tests.unit.accounting.test_charging_properties import (
    MAX_ELAPSED,
    TWO_YEARS,
    TYPES,
    WINDOW_START,
    rates,
    records,
)

#: Cluster-wide, its untyped GPUs taken as A100s (most jobs then bill one type) or not.
WIDE = ClusterRoute("jean-zay", "", "a100")
WIDE_UNTYPED = ClusterRoute("jean-zay", "")
BY_PARTITION = ClusterRoute("jean-zay", "gpu_p5", "a100")
jobs = st.lists(st.one_of(close_jobs(), close_jobs(), records()), min_size=1, max_size=8)
clips = (
    st.none()
    | st.integers(WINDOW_START, WINDOW_START + TWO_YEARS + MAX_ELAPSED)
    | st.integers(START, START + SPAN)
)


@st.composite
def pool_sets(draw: st.DrawFn) -> list[Pool]:
    """No pool (every job unrouted), or one routed by partition or cluster-wide (untyped GPUs
    named or not), some GPU types without rates, a dated grant beside it."""
    layout = draw(st.sampled_from(["none", "wide", "wide-untyped", "partition", "dated"]))
    if layout == "none":
        return []
    the_rates = draw(st.one_of(close_rates(), close_rates(), rates()))
    unrated = draw(st.sets(st.sampled_from(TYPES), max_size=2))
    kept = tuple(reversed([r for r in the_rates if r.gpu_type not in unrated]))
    mode = draw(st.sampled_from(list(BillingMode)))
    route = {"partition": BY_PARTITION, "wide-untyped": WIDE_UNTYPED}.get(layout, WIDE)
    main = pool(*kept, mode=mode, routes=(route,))
    if layout != "dated":
        return [main]
    grant = pool(*kept, mode=mode, routes=(BY_PARTITION,), pool_id="grant")
    valid_from = moment(draw(st.integers(WINDOW_START, WINDOW_START + TWO_YEARS)))
    until = datetime(2027, 6, 1, tzinfo=UTC)
    return [main, replace(grant, valid_from=valid_from, valid_until=until)]


def booked(
    record: UsageRecord, pools: list[Pool], calendar: Calendar, now: datetime | None
) -> list[Row]:
    return [booking_row(b) for b in book(record, pools, calendar, now)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drawn=jobs,
    pools=pool_sets(),
    calendar=st.sampled_from(CALENDARS),
    clip=clips,
)
def test_a_chunk_is_booked_row_for_row_as_each_record_alone(
    drawn: list[UsageRecord], pools: list[Pool], calendar: Calendar, clip: int | None
) -> None:
    now = None if clip is None else moment(clip)
    booker = ChunkBooker(pools, calendar, now)
    for record in drawn:
        assert booker.rows(record) == booked(record, pools, calendar, now)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drawn=jobs,
    the_rates=st.one_of(rates(), close_rates()),
    mode=st.sampled_from(list(BillingMode)),
    calendar=st.sampled_from(CALENDARS),
    clip=clips,
)
def test_a_chunk_of_priced_jobs_is_charged_as_the_slow_reference_charges_each(
    drawn: list[UsageRecord],
    the_rates: tuple[Rate, ...],
    mode: BillingMode,
    calendar: Calendar,
    clip: int | None,
) -> None:
    # every type priced from long ago: the reference never misses a rate
    priced = (*(Rate(t, 1000, LONG_AGO) for t in TYPES), *the_rates)
    the_pool = pool(*priced, mode=mode, routes=(WIDE,))
    now = None if clip is None else moment(clip)
    booker = ChunkBooker([the_pool], calendar, now)
    for record in drawn:
        expected: list[Row] = [
            (
                record.cluster,
                record.job_id,
                record.submit,
                record.account,
                the_pool.id,
                c.period,
                c.period,
                c.day,
                c.gpu_type,
                c.rate_milli,
                c.gpu_seconds,
                c.units,
                c.provisional,
                False,
                True,
            )
            for c in (
                reference_charge(record, the_pool, calendar, now, split_days=True)
                if record.start is not None and record.gpus > 0 and record.elapsed > 0
                else []
            )
        ]
        assert booker.rows(record) == expected
