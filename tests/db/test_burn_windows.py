"""The burn windows kept pre-aggregated (``usage_burn``) give ``/metrics`` the same figures as
summing the daily rollup, through stores on one day, a running job's newer records, the next
day and a repair of the rollup, on SQLite and PostgreSQL (and ``usage_burn`` equals the sums
after every store: ``burn_matches_daily``)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from accounting.burn import WINDOWS
from accounting.charging import UTC_QUARTERS
from connectors.db import burn_windows
from connectors.db.burn_tables import UsageBurnStateRow
from connectors.db.consumption import project_windows as summed
from connectors.db.engine import make_session_factory
from connectors.db.housekeeping import SqlHousekeeping
from tests.db.test_accounting import NOV, rec, rollup_matches_charges, store, world

DAY = 86400


def read(engine: Engine, epoch: int) -> tuple[dict[tuple[str, str], tuple[int, int]], ...]:
    """The windows as ``/metrics`` reads them and as the daily rollup sums them."""
    with engine.connect() as conn:
        kept = burn_windows.project_windows(conn, epoch, UTC_QUARTERS)
        return {k: v for k, v in kept.items() if v != (0, 0)}, summed(conn, epoch, UTC_QUARTERS)


def state_day(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return conn.scalar(select(UsageBurnStateRow.day))


def test_the_kept_windows_equal_the_summed_ones_from_day_to_day(engine: Engine) -> None:
    assert WINDOWS == (7, 30)
    world(engine)
    now = NOV + 40 * DAY
    old = [rec(i, NOV + i * DAY, 7200, 2) for i in range(40)]  # some in, some out of windows
    store(engine, old, now)
    assert state_day(engine) == now // DAY
    kept, expected = read(engine, now)
    assert kept == expected and expected[("p1", "loc")][1] > expected[("p1", "loc")][0] > 0
    # a running job, then its newer (longer) record: differences added to the kept rows
    running = rec(100, now - 3 * DAY, 2 * DAY, 4, state="RUNNING", end=None)
    store(engine, [running], now)
    store(engine, [rec(100, now - 3 * DAY, 3 * DAY - 60, 4)], now + 30)
    rollup_matches_charges(engine)
    kept, expected = read(engine, now + 60)
    assert state_day(engine) == now // DAY
    assert kept == expected
    # the next day: read before any store (summed), then kept again after one
    tomorrow = now + DAY
    kept, expected = read(engine, tomorrow)
    assert kept == expected
    store(engine, [rec(200, tomorrow - 600, 300)], tomorrow)
    assert state_day(engine) == tomorrow // DAY
    rollup_matches_charges(engine)
    kept, expected = read(engine, tomorrow)
    assert kept == expected


def test_a_repaired_daily_rollup_has_its_windows_summed_again(engine: Engine) -> None:
    world(engine)
    now = NOV + 10 * DAY
    store(engine, [rec(1, now - DAY, 3600)], now)
    assert state_day(engine) == now // DAY
    with make_session_factory(engine)() as session:
        SqlHousekeeping(session).replace_days([], {})  # nothing to repair
        session.commit()
    assert state_day(engine) == now // DAY
    drifted = ("2026Q4", "loc", "enact-dev", "acct-p1", now // DAY - 5, "h100", False, False, True)
    with make_session_factory(engine)() as session:
        SqlHousekeeping(session).replace_days([drifted], {})
        session.commit()
    assert state_day(engine) is None
    kept, expected = read(engine, now)
    assert kept == expected and expected
