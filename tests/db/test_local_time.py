"""Rollups, burn rates and the rollup check in the site's time zone, on SQLite and PostgreSQL.

With ``Europe/Paris`` every ``usage_daily.day`` is a Paris day and every period a Paris one:
what ``sreport`` and the national centre count. Figures are worked out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update

from accounting import services as acc
from accounting.ingestion import UsageBatch, Window
from accounting.usage import UsageRecord
from allocator.periods import Calendar
from connectors.db import tables as t
from connectors.db.engine import make_session_factory
from connectors.db.metrics_reads import PoolInfo
from connectors.db.uow import SqlUnitOfWork
from connectors.db.usage_store import SqlUsageStore
from connectors.metrics.business import _grant_days
from tests.builders import H, seed_world, usage_record
from tests.db.test_accounting import rollup_matches_charges

PARIS = Calendar(zone_name="Europe/Paris")
PARIS_TIME = ZoneInfo("Europe/Paris")
DAY = 86400


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


def paris(*args: int) -> int:
    return int(datetime(*args, tzinfo=PARIS_TIME).timestamp())  # type: ignore[misc]


def rec(job_id: int, start: int, elapsed: int, gpus: int = 1) -> UsageRecord:
    return usage_record(start, elapsed, gpus, job_id=job_id, account="acct-p1")


def store(engine: Engine, records: list[UsageRecord], now: int) -> None:
    SqlUsageStore(engine, PARIS).store_window(
        "enact-dev", Window(now - 200 * DAY, now), UsageBatch(records), now, None
    )


def world(engine: Engine) -> None:
    seed_world(SqlUnitOfWork(make_session_factory(engine)), datetime(2026, 7, 1, tzinfo=UTC))


def daily(engine: Engine) -> dict[tuple[str, int], int]:
    D = t.UsageDailyRow
    with engine.connect() as conn:
        rows = conn.execute(select(D.period, D.day, D.gpu_seconds).where(D.gpu_seconds != 0))
        return {(period, day): int(seconds) for period, day, seconds in rows}


def by_period(engine: Engine) -> dict[str, int]:
    P = t.UsagePeriodRow
    with engine.connect() as conn:
        rows = conn.execute(select(P.period, P.gpu_seconds).where(P.gpu_seconds != 0))
        return {period: int(seconds) for period, seconds in rows}


def test_new_years_eve_in_paris_books_half_an_hour_in_each_quarter_and_paris_days(
    engine: Engine,
) -> None:
    world(engine)
    store(engine, [rec(1, utc(2026, 12, 31, 22, 30), H)], utc(2027, 1, 2))
    assert by_period(engine) == {"2026Q4": 1800, "2027Q1": 1800}
    dec31, jan1 = utc(2026, 12, 31) // DAY, utc(2027, 1, 1) // DAY
    assert daily(engine) == {("2026Q4", dec31): 1800, ("2027Q1", jan1): 1800}
    rollup_matches_charges(engine)


def test_the_dst_days_of_23_and_25_hours_are_split_exactly_in_the_daily_rollup(
    engine: Engine,
) -> None:
    world(engine)
    spring = rec(1, paris(2026, 3, 28, 12), 47 * H, 2)  # Saturday noon to Monday noon
    autumn = rec(2, paris(2026, 10, 24, 12), 49 * H, 2)
    store(engine, [spring, autumn], utc(2026, 11, 1))
    sat, oct_sat = utc(2026, 3, 28) // DAY, utc(2026, 10, 24) // DAY
    got = daily(engine)
    assert got[("2026Q1", sat)] == 2 * 12 * H
    assert got[("2026Q1", sat + 1)] == 2 * 23 * H
    assert got[("2026Q1", sat + 2)] == 2 * 12 * H
    assert got[("2026Q4", oct_sat)] == 2 * 12 * H
    assert got[("2026Q4", oct_sat + 1)] == 2 * 25 * H
    assert got[("2026Q4", oct_sat + 2)] == 2 * 12 * H
    assert len(got) == 6
    rollup_matches_charges(engine)
    # the daily check agrees with the journal on Paris days, and repairs a drifted one
    now = datetime.fromtimestamp(paris(2026, 10, 27, 0, 30), UTC)  # 26 Oct 23:30 UTC
    assert acc.check_rollups(SqlUnitOfWork(make_session_factory(engine)), now, 3, PARIS) == 0
    D = t.UsageDailyRow
    with engine.begin() as conn:
        conn.execute(update(D).where(D.day == oct_sat + 1).values(gpu_seconds=1))
    assert acc.check_rollups(SqlUnitOfWork(make_session_factory(engine)), now, 3, PARIS) == 1
    assert daily(engine)[("2026Q4", oct_sat + 1)] == 2 * 25 * H
    rollup_matches_charges(engine)


def test_burn_over_paris_days_counts_the_short_day_as_23_hours(engine: Engine) -> None:
    world(engine)
    week = rec(1, paris(2026, 3, 23), paris(2026, 3, 30) - paris(2026, 3, 23), 2)
    assert week.elapsed == 7 * 24 * H - H
    now = paris(2026, 3, 30)  # midnight after the 23-hour Sunday
    store(engine, [week], now)
    remaining = {("p1", "loc"): (80 * H, 200 * H)}
    end = paris(2026, 4, 1)  # 2026Q1 ends at midnight in Paris
    burn = acc.burns(
        SqlUnitOfWork(make_session_factory(engine)), now, remaining, PARIS, period_end=end
    )[("p1", "loc")]
    # 6 whole Paris days (24 h x 5 + 23 h) with 2 GPUs busy: exactly 2 GPUs' worth
    assert burn.rate_7d == 2.0
    assert burn.exhaustion == now + 40 * H  # 31 March 16:00, before 2026Q1 ends
    # the 30-day window (from 1 March) holds the whole job, 7 Paris days of 2 GPUs, over
    # 29 Paris days of which one lasted 23 hours
    assert burn.rate_30d == 2 * (7 * 24 - 1) * H / (29 * 24 * H - H)


def test_a_grant_from_may_to_may_in_paris_covers_paris_days_in_metrics() -> None:
    grant = PoolInfo(
        "nat", datetime(2026, 5, 1, tzinfo=PARIS_TIME), datetime(2027, 5, 1, tzinfo=PARIS_TIME)
    )
    # 1 May 2026 00:00 in Paris is 30 April 22:00 UTC: the grant's first day is still 1 May
    assert _grant_days(grant, PARIS) == (utc(2026, 5, 1) // DAY, utc(2027, 5, 1) // DAY)
