"""Charging jobs to pools: splitting by period and rate, requeued jobs, exact rounding.

Units are pool unit-seconds (3600 = one hour of the pool's unit); rates are in thousandths.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounting.charging import (
    RateNotFound,
    Totals,
    charge,
    sum_charges,
)
from accounting.errors import AccountingError
from allocator.model import (
    Rate,
)
from allocator.periods import Calendar, PeriodScheme
from tests.unit.accounting.charging_support import (
    DAY,
    LONG_AGO,
    H,
    at,
    job,
    parts,
    pool,
    whole,
)

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
