"""Charging jobs to pools: routing, billed GPUs, splitting by period and rate, exact rounding.

Units are pool unit-seconds (3600 = one hour of the pool's unit); rates are in thousandths.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounting.charging import (
    AmbiguousRoute,
    Charge,
    RateNotFound,
    Totals,
    billed_gpus,
    charge,
    route,
    sum_charges,
)
from accounting.errors import AccountingError
from accounting.usage import UsageRecord
from allocator.model import (
    MILLI,
    BillingMode,
    ClusterRoute,
    NodeShape,
    Pool,
    PoolKind,
    Rate,
)
from allocator.periods import Calendar, PeriodScheme, period_containing

H = 3600
DAY = 24 * H
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A Jean Zay gpu_p5-like node: 8 A100, 64 CPUs, 512 000 MB.
P5 = NodeShape(gpus=8, cpus=64, mem_mb=512_000)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Epoch seconds of a UTC wall-clock time."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


def moment(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def job(
    start: int | None,
    elapsed: int,
    gpus: int = 1,
    *,
    types: tuple[tuple[str, int], ...] | None = None,
    state: str = "COMPLETED",
    job_id: int = 1001,
    submit: int | None = None,
    partition: str = "gpu_p5",
    cpus: int = 0,
    mem_mb: int = 0,
    nodes: int = 1,
) -> UsageRecord:
    running = state in ("RUNNING", "PENDING")
    return UsageRecord(
        cluster="jean-zay",
        job_id=job_id,
        submit=submit if submit is not None else (start or at(2026, 1, 1)) - 60,
        account="ad011234",
        user="alice",
        partition=partition,
        qos="qos_gpu-t3",
        state=state,
        start=start,
        end=None if running or start is None else start + elapsed,
        elapsed=elapsed,
        gpus=gpus,
        gpus_by_type=(("a100", gpus),) if types is None else types,
        alloc_cpus=cpus,
        alloc_mem_mb=mem_mb,
        alloc_nodes=nodes,
    )


def pool(
    *rates: Rate,
    mode: BillingMode = BillingMode.ALLOCATED,
    shapes: tuple[tuple[str, NodeShape], ...] = (("gpu_p5", P5),),
    pool_id: str = "ai2f-jz",
    routes: tuple[ClusterRoute, ...] = (),
) -> Pool:
    return Pool(
        id=pool_id,
        name=pool_id,
        kind=PoolKind.NATIONAL,
        unit="normalised-gpu-hour",
        billing_mode=mode,
        node_shapes=shapes,
        routes=routes,
        rates=rates or (Rate("a100", 2 * MILLI, LONG_AGO),),
    )


def parts(charges: list[Charge]) -> list[tuple[str, str, int, int, bool]]:
    return [(c.period, c.gpu_type, c.gpu_seconds, c.units, c.provisional) for c in charges]


def whole(charges: list[Charge]) -> tuple[int, int]:
    return sum(c.gpu_seconds for c in charges), sum(c.units for c in charges)


# --- 1. splitting by time across periods ----------------------------------------------------


def test_a_job_across_new_year_is_split_by_time_and_the_parts_sum_to_the_whole() -> None:
    """2 A100 at rate 2 from 23:00 on 31 Dec for 3 h: 1 h in 2026Q4, 2 h in 2027Q1."""
    record = job(at(2026, 12, 31, 23), 3 * H, gpus=2)
    charges = charge(record, pool())
    assert parts(charges) == [
        ("2026Q4", "a100", 7_200, 14_400, False),
        ("2027Q1", "a100", 14_400, 28_800, False),
    ]
    assert [(c.start, c.end) for c in charges] == [
        (at(2026, 12, 31, 23), at(2027, 1, 1)),
        (at(2027, 1, 1), at(2027, 1, 1, 2)),
    ]
    assert whole(charges) == (2 * 3 * H, 2 * 3 * H * 2) == (21_600, 43_200)
    assert sum_charges(charges) == {
        ("2026Q4", "a100"): Totals(7_200, 14_400),
        ("2027Q1", "a100"): Totals(14_400, 28_800),
    }


def test_a_job_over_several_months_is_split_by_month_when_the_scheme_is_monthly() -> None:
    """1 A100 from 30 Jan 12:00 to 2 Mar 12:00 (2027, not a leap year): 36 h, 28 d, 36 h."""
    record = job(at(2027, 1, 30, 12), 31 * DAY)
    charges = charge(record, pool(), Calendar(PeriodScheme.MONTH))
    assert [(c.period, c.gpu_seconds, c.units) for c in charges] == [
        ("2027-01", 36 * H, 72 * H),
        ("2027-02", 28 * DAY, 56 * DAY),
        ("2027-03", 36 * H, 72 * H),
    ]
    assert sum(c.gpu_seconds for c in charges) == 31 * DAY
    assert [c.period for c in charge(record, pool())] == ["2027Q1"]


def test_a_unit_split_across_a_boundary_is_neither_lost_nor_duplicated() -> None:
    """1 GPU at rate 0.5, 1 s each side of midnight: 1 unit in all, given to the second part.

    Flooring each half-unit part separately would charge 0 + 0.
    """
    record = job(at(2026, 12, 31, 23, 59, 59), 2)
    charges = charge(record, pool(Rate("a100", 500, LONG_AGO)))
    assert parts(charges) == [
        ("2026Q4", "a100", 1, 0, False),
        ("2027Q1", "a100", 1, 1, False),
    ]
    assert whole(charges) == (2, 1)


def test_units_round_down_once_for_the_whole_job() -> None:
    """3 GPUs for 7 s at rate 1.333: 27.993 units -> 27, split 4 s / 3 s -> 15 + 12."""
    record = job(at(2027, 3, 31, 23, 59, 56), 7, gpus=3)
    charges = charge(record, pool(Rate("a100", 1_333, LONG_AGO)))
    # cumulative milli-units: 3*4*1333 = 15 996 -> 15 units; 3*7*1333 = 27 993 -> 27 units
    assert parts(charges) == [
        ("2027Q1", "a100", 12, 15, False),
        ("2027Q2", "a100", 9, 12, False),
    ]


# --- 2. rate changes ------------------------------------------------------------------------

A100_RAISE = datetime(2027, 2, 1, tzinfo=UTC)


def test_a_rate_change_mid_job_charges_each_part_at_the_rate_in_force_then() -> None:
    """4 A100 from 22:00 on 31 Jan for 4 h; the rate goes from 2 to 2.5 at midnight."""
    rates = (Rate("a100", 2_000, LONG_AGO), Rate("a100", 2_500, A100_RAISE))
    charges = charge(job(at(2027, 1, 31, 22), 4 * H, gpus=4), pool(*rates))
    assert [(c.period, c.gpu_seconds, c.rate_milli, c.units) for c in charges] == [
        ("2027Q1", 28_800, 2_000, 57_600),
        ("2027Q1", 28_800, 2_500, 72_000),
    ]
    assert sum_charges(charges) == {("2027Q1", "a100"): Totals(57_600, 129_600)}


def test_a_rate_change_leaves_the_charges_of_earlier_jobs_unchanged() -> None:
    earlier = job(at(2027, 1, 10, 9), 1 * H, gpus=4, job_id=900)
    before = charge(earlier, pool(Rate("a100", 2_000, LONG_AGO)))
    after = charge(earlier, pool(Rate("a100", 2_000, LONG_AGO), Rate("a100", 2_500, A100_RAISE)))
    assert after == before
    assert parts(after) == [("2027Q1", "a100", 14_400, 28_800, False)]
    later = job(at(2027, 2, 10, 9), 1 * H, gpus=4, job_id=901)
    assert parts(
        charge(later, pool(Rate("a100", 2_000, LONG_AGO), Rate("a100", 2_500, A100_RAISE)))
    ) == [("2027Q1", "a100", 14_400, 36_000, False)]


def test_a_rate_taking_effect_within_a_second_applies_from_the_next_whole_second() -> None:
    rates = (Rate("a100", 1_000, LONG_AGO), Rate("a100", 3_000, A100_RAISE + timedelta(0, 0, 1)))
    charges = charge(job(at(2027, 1, 31, 23, 59, 59), 3), pool(*rates))
    assert [(c.start, c.end, c.rate_milli, c.units) for c in charges] == [
        (at(2027, 1, 31, 23, 59, 59), at(2027, 2, 1, 0, 0, 1), 1_000, 2),
        (at(2027, 2, 1, 0, 0, 1), at(2027, 2, 1, 0, 0, 2), 3_000, 3),
    ]


def test_a_rate_declared_again_at_the_same_value_does_not_split_the_charge() -> None:
    rates = (Rate("a100", 2_000, LONG_AGO), Rate("a100", 2_000, A100_RAISE))
    charges = charge(job(at(2027, 1, 31, 22), 4 * H), pool(*rates))
    assert parts(charges) == [("2027Q1", "a100", 4 * H, 8 * H, False)]


def test_a_gpu_type_without_a_rate_is_refused_naming_the_type() -> None:
    record = job(at(2027, 1, 10), H, types=(("h100", 1),))
    with pytest.raises(RateNotFound) as err:
        charge(record, pool())
    assert isinstance(err.value, AccountingError)
    assert (err.value.gpu_type, err.value.field, err.value.pool_id) == (
        "h100",
        "gpu_type",
        "ai2f-jz",
    )
    assert "'h100'" in err.value.message


def test_untyped_gpus_need_a_rate_for_the_empty_type() -> None:
    record = job(at(2027, 1, 10), H, gpus=2, types=())
    with pytest.raises(RateNotFound) as err:
        charge(record, pool())
    assert err.value.gpu_type == ""
    charges = charge(record, pool(Rate("", 1_000, LONG_AGO)))
    assert parts(charges) == [("2027Q1", "", 2 * H, 2 * H, False)]


def test_a_job_that_started_before_the_first_rate_is_refused() -> None:
    record = job(at(2027, 1, 31, 23), 2 * H)
    with pytest.raises(RateNotFound) as err:
        charge(record, pool(Rate("a100", 2_000, A100_RAISE)))
    assert err.value.at == datetime(2027, 1, 31, 23, tzinfo=UTC)


# --- 3. requeued jobs -------------------------------------------------------------------------


def test_each_run_of_a_requeued_job_is_charged_and_both_count() -> None:
    """Job 4242 ran 1 h, was requeued (node failure), then ran 2 h: 3 h of 2 GPUs billed."""
    first = job(
        at(2027, 3, 1, 8), 1 * H, gpus=2, job_id=4242, state="REQUEUED", submit=at(2027, 3, 1)
    )
    second = job(at(2027, 3, 1, 10), 2 * H, gpus=2, job_id=4242, submit=at(2027, 3, 1, 9, 5))
    assert (first.cluster, first.job_id) == (second.cluster, second.job_id)
    assert first.submit != second.submit
    charged = {(r.cluster, r.job_id, r.submit): charge(r, pool()) for r in (first, second)}
    assert len(charged) == 2
    assert [parts(c) for c in charged.values()] == [
        [("2027Q1", "a100", 7_200, 14_400, False)],
        [("2027Q1", "a100", 14_400, 28_800, False)],
    ]
    all_charges = [c for cs in charged.values() for c in cs]
    assert sum_charges(all_charges) == {("2027Q1", "a100"): Totals(21_600, 43_200)}


# --- 4. allocated vs reserved billing ------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "gpus", "cpus", "mem_mb", "nodes", "allocated", "reserved"),
    [
        ("half the node's CPUs for 1 GPU", 1, 32, 64_000, 1, 1, 4),
        ("10 of 64 CPUs for 1 GPU: ceil(1.25)", 1, 10, 8_000, 1, 1, 2),
        ("three quarters of the memory for 1 GPU", 1, 8, 384_000, 1, 1, 6),
        ("a fair share: 2 GPUs with 16 CPUs", 2, 16, 128_000, 1, 2, 2),
        ("exclusive single node asking 1 GPU", 1, 64, 16_000, 1, 1, 8),
        ("2 nodes of 2 GPUs and 8 CPUs each", 4, 16, 64_000, 2, 4, 16),
        ("4 full nodes", 32, 256, 2_048_000, 4, 32, 32),
        ("more GPUs than the node shape says", 10, 8, 8_000, 1, 10, 10),
    ],
)
def test_reserved_billing_raises_the_gpus_to_the_share_of_the_node_the_job_holds(
    case: str, gpus: int, cpus: int, mem_mb: int, nodes: int, allocated: int, reserved: int
) -> None:
    record = job(at(2027, 1, 10), H, gpus=gpus, cpus=cpus, mem_mb=mem_mb, nodes=nodes)
    assert billed_gpus(record, pool()) == (("a100", allocated),), case
    assert billed_gpus(record, pool(mode=BillingMode.RESERVED)) == (("a100", reserved),), case


def test_a_half_node_job_costs_four_times_as_much_on_a_reserved_pool() -> None:
    """1 A100 + 32 of 64 CPUs for 1 h at rate 2: 1 GPU h billed locally, 4 on Jean Zay."""
    record = job(at(2027, 1, 10), H, cpus=32, mem_mb=64_000)
    assert parts(charge(record, pool())) == [("2027Q1", "a100", 3_600, 7_200, False)]
    assert parts(charge(record, pool(mode=BillingMode.RESERVED))) == [
        ("2027Q1", "a100", 14_400, 28_800, False)
    ]


def test_a_two_node_job_bills_sixteen_gpus_on_a_reserved_pool() -> None:
    record = job(at(2027, 1, 10), 2 * H, gpus=2, cpus=20, mem_mb=40_000, nodes=2)
    assert parts(charge(record, pool(mode=BillingMode.RESERVED))) == [
        ("2027Q1", "a100", 16 * 2 * H, 16 * 2 * H * 2, False)
    ]
    assert parts(charge(record, pool())) == [("2027Q1", "a100", 2 * 2 * H, 2 * 2 * H * 2, False)]


def test_a_partition_without_a_node_shape_is_billed_as_allocated() -> None:
    record = job(at(2027, 1, 10), H, cpus=32, partition="gpu_p13")
    assert billed_gpus(record, pool(mode=BillingMode.RESERVED)) == (("a100", 1),)


def test_inflated_gpus_go_to_the_job_types_in_proportion_with_exact_remainders() -> None:
    """1 A100 + 2 H100, exclusive: 8 billed; 2.67 / 5.33 -> A100 3, H100 5."""
    record = job(at(2027, 1, 10), H, gpus=3, types=(("a100", 1), ("h100", 2)), cpus=64)
    assert billed_gpus(record, pool(mode=BillingMode.RESERVED)) == (("a100", 3), ("h100", 5))
    assert billed_gpus(record, pool()) == (("a100", 1), ("h100", 2))


def test_gpus_without_a_type_are_billed_as_the_empty_type() -> None:
    record = job(at(2027, 1, 10), H, gpus=3, types=(("a100", 1),))
    assert billed_gpus(record, pool()) == (("", 2), ("a100", 1))
    assert billed_gpus(record, pool(mode=BillingMode.RESERVED)) == (("", 2), ("a100", 1))
    assert billed_gpus(replace(record, alloc_cpus=64), pool(mode=BillingMode.RESERVED)) == (
        ("", 5),
        ("a100", 3),
    )


# --- 5. running jobs ---------------------------------------------------------------------


def test_a_running_job_accrues_provisionally_and_its_final_charges_replace_them() -> None:
    """Job 77 runs from 23:00 on 31 Dec: seen after 30 min (running), then finished after 3 h."""
    running = job(at(2026, 12, 31, 23), 30 * 60, gpus=2, job_id=77, state="RUNNING")
    assert not running.final
    store: dict[tuple[str, int, int], list[Charge]] = {}
    key = (running.cluster, running.job_id, running.submit)
    store[key] = charge(running, pool())
    assert parts(store[key]) == [("2026Q4", "a100", 3_600, 7_200, True)]

    later = replace(running, elapsed=2 * H)
    store[key] = charge(later, pool())
    assert parts(store[key]) == [
        ("2026Q4", "a100", 7_200, 14_400, True),
        ("2027Q1", "a100", 7_200, 14_400, True),
    ]

    finished = replace(running, state="COMPLETED", end=at(2027, 1, 1, 2), elapsed=3 * H)
    assert finished.final
    store[key] = charge(finished, pool())
    assert parts(store[key]) == [
        ("2026Q4", "a100", 7_200, 14_400, False),
        ("2027Q1", "a100", 14_400, 28_800, False),
    ]
    assert sum_charges(c for cs in store.values() for c in cs) == {
        ("2026Q4", "a100"): Totals(7_200, 14_400),
        ("2027Q1", "a100"): Totals(14_400, 28_800),
    }


def test_no_second_after_now_is_charged_and_a_clipped_charge_stays_provisional() -> None:
    finished = job(at(2027, 1, 10, 8), 2 * H)
    charges = charge(finished, pool(), now=datetime(2027, 1, 10, 9, tzinfo=UTC))
    assert parts(charges) == [("2027Q1", "a100", 3_600, 7_200, True)]
    assert charge(finished, pool(), now=datetime(2027, 1, 10, 7, tzinfo=UTC)) == []
    assert parts(charge(finished, pool(), now=datetime(2027, 1, 11, tzinfo=UTC))) == [
        ("2027Q1", "a100", 7_200, 14_400, False)
    ]


def test_the_run_is_elapsed_seconds_from_start_so_suspended_time_is_not_billed() -> None:
    """Started 08:00, suspended 1 h, ended 11:00: elapsed is 2 h, and 2 h are billed."""
    record = replace(job(at(2027, 1, 10, 8), 2 * H), end=at(2027, 1, 10, 11))
    charges = charge(record, pool())
    assert [(c.start, c.end, c.gpu_seconds) for c in charges] == [
        (at(2027, 1, 10, 8), at(2027, 1, 10, 10), 7_200)
    ]


@pytest.mark.parametrize(
    "record",
    [
        job(None, 0, state="PENDING"),
        job(None, 0, state="CANCELLED"),
        job(at(2027, 1, 10), H, gpus=0, types=()),
        job(at(2027, 1, 10), 0),
    ],
    ids=["pending", "cancelled before start", "cpu only", "zero elapsed"],
)
def test_jobs_that_never_ran_on_a_gpu_are_not_charged(record: UsageRecord) -> None:
    assert charge(record, pool(mode=BillingMode.RESERVED)) == []
    assert charge(record, pool(), now=datetime(2030, 1, 1, tzinfo=UTC)) == []


def test_a_negative_elapsed_time_is_refused() -> None:
    with pytest.raises(AccountingError) as err:
        charge(job(at(2027, 1, 10), -5), pool())
    assert err.value.field == "elapsed"


# --- 7. routing ---------------------------------------------------------------------------


def test_a_partition_route_wins_over_a_cluster_wide_route_whatever_the_order() -> None:
    wide = pool(pool_id="ai2f-jz", routes=(ClusterRoute("jean-zay", ""),))
    h100 = pool(pool_id="jz-h100", routes=(ClusterRoute("jean-zay", "gpu_p6"),))
    for pools in ([wide, h100], [h100, wide]):
        assert route(pools, "jean-zay", "gpu_p6") == "jz-h100"
        assert route(pools, "jean-zay", "gpu_p5") == "ai2f-jz"
        assert route(pools, "enact", "gpu") is None
    assert route([h100], "jean-zay", "gpu_p5") is None
    assert route([], "jean-zay", "gpu_p5") is None


def test_two_pools_claiming_the_same_route_is_an_error_not_a_guess() -> None:
    one = pool(pool_id="a", routes=(ClusterRoute("jean-zay", ""),))
    two = pool(pool_id="b", routes=(ClusterRoute("jean-zay", ""),))
    with pytest.raises(AmbiguousRoute) as err:
        route([one, two], "jean-zay", "gpu_p5")
    assert err.value.pool_ids == ("a", "b")
    assert err.value.field == "routes"


def test_successive_grants_on_one_cluster_are_told_apart_by_their_validity() -> None:
    routes = (ClusterRoute("jean-zay", ""),)
    y1 = replace(
        pool(pool_id="grant-2026", routes=routes),
        valid_from=datetime(2026, 5, 1, tzinfo=UTC),
        valid_until=datetime(2027, 5, 1, tzinfo=UTC),
    )
    y2 = replace(
        pool(pool_id="grant-2027", routes=routes),
        valid_from=datetime(2027, 5, 1, tzinfo=UTC),
        valid_until=datetime(2028, 5, 1, tzinfo=UTC),
    )
    assert route([y1, y2], "jean-zay", "gpu_p5", at=datetime(2027, 4, 30, 23, tzinfo=UTC)) == (
        "grant-2026"
    )
    assert route([y1, y2], "jean-zay", "gpu_p5", at=datetime(2027, 5, 1, tzinfo=UTC)) == (
        "grant-2027"
    )
    assert route([y1, y2], "jean-zay", "gpu_p5", at=datetime(2029, 1, 1, tzinfo=UTC)) is None
    with pytest.raises(AmbiguousRoute):
        route([y1, y2], "jean-zay", "gpu_p5")


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
