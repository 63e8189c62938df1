"""The desired Slurm state from the ledger: rates to billing weights, hours to billing-minutes,
the QOS ladder and its grace band. Worked examples (README, "Enforcement")."""

from __future__ import annotations

from datetime import UTC, datetime

from allocator.enforcement import (
    Ladder,
    Level,
    Standing,
    band_end,
    billing_minutes,
    billing_weights,
    desired_account,
    ladder_level,
    unit_seconds_of,
)
from allocator.model import MILLI, ClusterRoute, Rate
from tests.builders import EPOCH, H, national_pool

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
LADDER = Ladder(normal="normal", grace="enf-grace", blocked="enf-blocked", grace_milli=250)


def test_a_pools_rates_become_billing_weights_in_thousandths_per_typed_gpu() -> None:
    pool = national_pool(
        rates=(Rate("a100", 2 * MILLI, EPOCH), Rate("h100", 4 * MILLI, EPOCH)),
        routes=(ClusterRoute("jean-zay", "gpu_p5"), ClusterRoute("enact-dev", "")),
    )
    assert billing_weights(pool, NOW) == {
        "jean-zay/gpu_p5": "GRES/gpu:a100=2000,GRES/gpu:h100=4000",
        "enact-dev/": "GRES/gpu:a100=2000,GRES/gpu:h100=4000",
    }


def test_an_untyped_route_weighs_plain_gpus_at_its_hardwares_rate() -> None:
    pool = national_pool(routes=(ClusterRoute("jean-zay", "gpu_p13", "h100"),))
    assert billing_weights(pool, NOW) == {"jean-zay/gpu_p13": "GRES/gpu=4000"}


def test_the_weights_follow_the_rate_in_force_now() -> None:
    later = datetime(2026, 12, 1, tzinfo=UTC)
    pool = national_pool(
        rates=(Rate("a100", 2 * MILLI, EPOCH), Rate("a100", 2500, later)),
        routes=(ClusterRoute("jean-zay", "p"),),
    )
    assert billing_weights(pool, NOW) == {"jean-zay/p": "GRES/gpu:a100=2000"}
    assert billing_weights(pool, later) == {"jean-zay/p": "GRES/gpu:a100=2500"}


def test_ten_hours_are_six_hundred_thousand_billing_minutes() -> None:
    # 10 h = 36 000 unit-seconds = 36 000 000 billing-seconds (milli-units) = 600 000 minutes
    assert billing_minutes(10 * H) == 600_000
    assert unit_seconds_of(600_000) == 10 * H


def test_billing_minutes_round_down_never_granting_more_than_the_ledger() -> None:
    # 7 unit-seconds = 7000 billing-seconds = 116.67 minutes -> 116 (6960 s: 0.04 lost)
    assert billing_minutes(7) == 116
    assert unit_seconds_of(116) <= 7
    assert billing_minutes(-5) == 0


def test_the_band_ends_a_quarter_past_the_allocation() -> None:
    assert band_end(100 * H, 250) == 125 * H
    assert band_end(3, 250) == 3  # 3.75 rounds down
    assert band_end(-10, 250) == 0


def test_the_ladder_is_normal_below_the_allocation_grace_in_the_band_blocked_beyond() -> None:
    assert ladder_level(100 * H, 99 * H, 250) is Level.NORMAL
    assert ladder_level(100 * H, 100 * H, 250) is Level.GRACE
    assert ladder_level(100 * H, 125 * H - 1, 250) is Level.GRACE
    assert ladder_level(100 * H, 125 * H, 250) is Level.BLOCKED


def test_without_a_grace_band_the_allocation_is_the_end() -> None:
    assert ladder_level(100 * H, 100 * H, 0) is Level.BLOCKED
    assert ladder_level(100 * H, 100 * H - 1, 0) is Level.NORMAL


def test_a_project_with_nothing_available_is_blocked() -> None:
    assert ladder_level(0, 0, 250) is Level.BLOCKED
    assert ladder_level(-H, 0, 250) is Level.BLOCKED


def test_an_account_sums_its_projects_pools_on_the_cluster() -> None:
    # worked example: 8 h allocated in one pool + 2 h carried over in another, 9 h used
    standings = [Standing("nat", 8 * H, 6 * H), Standing("loc", 2 * H, 3 * H)]
    want = desired_account("enact-dev", "proj-x", "x", standings, LADDER)
    assert (want.available, want.used) == (10 * H, 9 * H)
    assert want.limit_minutes == 750_000  # (10 h + 25 %) = 45 000 s -> 45e6 / 60
    assert (want.level, want.qos) == (Level.NORMAL, "normal")


def test_an_account_over_its_allocation_drops_to_the_grace_qos() -> None:
    want = desired_account("c", "a", "p", [Standing("nat", 10 * H, 11 * H)], LADDER)
    assert (want.level, want.qos) == (Level.GRACE, "enf-grace")
    assert desired_account("c", "a", "p", [Standing("nat", 10 * H, 13 * H)], LADDER).qos == (
        "enf-blocked"
    )


def test_an_account_of_a_project_without_hours_is_limited_to_zero_and_blocked() -> None:
    want = desired_account("c", "a", "p", [], LADDER)
    assert (want.limit_minutes, want.qos) == (0, "enf-blocked")


def test_enforcement_doubts_an_ingestion_that_never_ran_failed_or_lags() -> None:
    from allocator.enforcement import ingestion_doubt

    assert ingestion_doubt("c", None, None, "", 10_000, 3600) == (
        "usage of c has never been ingested"
    )
    assert ingestion_doubt("c", 9000, 9500, "slurmdbd down", 10_000, 3600) == (
        "the last ingestion of c failed (slurmdbd down)"
    )
    assert ingestion_doubt("c", 1000, 1000, "", 10_000, 3600) == (
        "usage of c was last ingested 150 min ago"
    )
    assert ingestion_doubt("c", 9000, 9000, "", 10_000, 3600) == ""
