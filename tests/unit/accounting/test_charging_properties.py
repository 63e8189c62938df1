"""Charging jobs to pools, as properties over generated jobs and rates: no second lost or
doubled, billed GPUs within bounds.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounting.charging import (
    Charge,
    Totals,
    billed_gpus,
    charge,
    sum_charges,
)
from accounting.usage import UsageRecord
from allocator.model import (
    MILLI,
    BillingMode,
    Pool,
    Rate,
)
from allocator.periods import Calendar, PeriodScheme, period_containing
from tests.unit.accounting.charging_support import (
    DAY,
    EPOCH,
    LONG_AGO,
    P5,
    at,
    job,
    moment,
    pool,
)

# --- 6. properties -------------------------------------------------------------------------

TYPES = ("a100", "h100", "v100", "")
WINDOW_START = at(2025, 1, 1)
TWO_YEARS = 2 * 365 * DAY
MAX_ELAPSED = 200 * DAY


@st.composite
def rates(draw: st.DrawFn) -> tuple[Rate, ...]:
    out: list[Rate] = []
    for gpu_type in TYPES:
        out.append(Rate(gpu_type, draw(st.integers(1, 10_000)), LONG_AGO))
        instants = draw(
            st.lists(
                st.integers(WINDOW_START, WINDOW_START + TWO_YEARS + MAX_ELAPSED),
                max_size=3,
                unique=True,
            )
        )
        for instant in instants:
            micro = draw(st.sampled_from([0, 0, 1, 500_000]))
            out.append(
                Rate(
                    gpu_type,
                    draw(st.integers(1, 10_000)),
                    moment(instant) + timedelta(microseconds=micro),
                )
            )
    return tuple(out)


@st.composite
def records(draw: st.DrawFn) -> UsageRecord:
    gpus = draw(st.integers(0, 16))
    split: list[tuple[str, int]] = []
    left = gpus
    for gpu_type in draw(st.permutations(TYPES)):
        if gpu_type == "" or left == 0:
            continue  # untyped GPUs are whatever the typed counts leave over
        count = draw(st.integers(0, left))
        if count:
            split.append((gpu_type, count))
            left -= count
    nodes = draw(st.integers(0, 4))
    return job(
        draw(st.integers(WINDOW_START, WINDOW_START + TWO_YEARS)),
        draw(st.integers(0, MAX_ELAPSED)),
        gpus,
        types=tuple(split),
        state=draw(st.sampled_from(["COMPLETED", "RUNNING", "TIMEOUT"])),
        job_id=draw(st.integers(1, 10**6)),
        cpus=draw(st.integers(0, 4 * P5.cpus)),
        mem_mb=draw(st.integers(0, 4 * P5.mem_mb)),
        nodes=nodes,
    )


def one_piece_units(record: UsageRecord, the_pool: Pool, gpu_type: str, count: int) -> int:
    """The whole-job charge of one type, with no period in sight: exact, floored once."""
    assert record.start is not None
    begin, finish = record.start, record.start + record.elapsed
    history = sorted(
        (r for r in the_pool.rates if r.gpu_type == gpu_type), key=lambda r: r.effective_from
    )
    milli = 0
    for i, r in enumerate(history):
        from_ = -(-int((r.effective_from - EPOCH) / timedelta(microseconds=1)) // 1_000_000)
        until = (
            -(
                -int((history[i + 1].effective_from - EPOCH) / timedelta(microseconds=1))
                // 1_000_000
            )
            if i + 1 < len(history)
            else finish
        )
        lo, hi = max(begin, from_), min(finish, until)
        if hi > lo:
            milli += count * (hi - lo) * r.rate_milli
    return milli // MILLI


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    jobs=st.lists(records(), min_size=1, max_size=5),
    the_rates=rates(),
    mode=st.sampled_from(list(BillingMode)),
)
def test_charges_split_by_period_and_rate_sum_to_the_whole_job_with_no_second_lost(
    jobs: list[UsageRecord], the_rates: tuple[Rate, ...], mode: BillingMode
) -> None:
    the_pool = pool(*the_rates, mode=mode)
    everything: list[Charge] = []
    expected: dict[str, Totals] = {}
    for record in jobs:
        charges = charge(record, the_pool)
        monthly = charge(record, the_pool, Calendar(PeriodScheme.MONTH))
        everything.extend(charges)
        billed = billed_gpus(record, the_pool)
        if record.gpus == 0 or record.elapsed == 0:
            assert charges == []
            continue
        assert record.start is not None
        begin, finish = record.start, record.start + record.elapsed
        assert {t for t, _ in billed} == {c.gpu_type for c in charges}
        for gpu_type, count in billed:
            mine = [c for c in charges if c.gpu_type == gpu_type]
            # contiguous and complete: no second lost, none charged twice
            assert [c.start for c in mine] == [begin] + [c.end for c in mine[:-1]]
            assert mine[-1].end == finish
            for c in mine:
                period = period_containing(moment(c.start))
                assert c.period == period.label
                assert c.end <= period.end.timestamp()
                assert c.gpu_seconds == count * (c.end - c.start) > 0
                assert c.units >= 0
                assert c.rate_milli == the_pool.rate_at(gpu_type, moment(c.start))
                assert c.provisional is (not record.final)
            units = one_piece_units(record, the_pool, gpu_type, count)
            assert sum(c.gpu_seconds for c in mine) == count * record.elapsed
            assert sum(c.units for c in mine) == units
            assert sum(c.units for c in monthly if c.gpu_type == gpu_type) == units
            seconds, total = expected.get(gpu_type, Totals(0, 0))
            expected[gpu_type] = Totals(seconds + count * record.elapsed, total + units)
    by_type: dict[str, Totals] = {}
    for (_, gpu_type), (seconds, units) in sum_charges(everything).items():
        s, u = by_type.get(gpu_type, Totals(0, 0))
        by_type[gpu_type] = Totals(s + seconds, u + units)
    assert by_type == expected


@given(record=records())
def test_billed_gpus_are_never_fewer_than_allocated_and_at_most_the_nodes_held(
    record: UsageRecord,
) -> None:
    allocated = dict(billed_gpus(record, pool()))
    if record.elapsed:
        assert {t: n * record.elapsed for t, n in allocated.items()} == (
            record.gpu_seconds_by_type()
        )
    reserved = dict(billed_gpus(record, pool(mode=BillingMode.RESERVED)))
    assert reserved.keys() == allocated.keys()
    assert all(reserved[t] >= allocated[t] for t in allocated)
    nodes = max(1, record.alloc_nodes)
    assert sum(reserved.values()) <= max(sum(allocated.values()), nodes * P5.gpus)
    if allocated and (record.alloc_nodes > 1 or record.alloc_cpus >= nodes * P5.cpus):
        assert sum(reserved.values()) == max(sum(allocated.values()), nodes * P5.gpus)
