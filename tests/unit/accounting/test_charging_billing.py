"""Charging jobs to pools: billed GPUs (allocated or reserved), running jobs, routing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from accounting.charging import (
    AmbiguousRoute,
    Charge,
    Totals,
    billed_gpus,
    charge,
    route,
    sum_charges,
)
from accounting.errors import AccountingError
from accounting.usage import UsageRecord
from allocator.model import (
    BillingMode,
    ClusterRoute,
)
from tests.unit.accounting.charging_support import (
    H,
    at,
    job,
    parts,
    pool,
)

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
