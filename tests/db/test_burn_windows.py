"""The figures kept pre-aggregated (``usage_burn``: per pool and Slurm account, the burn
windows and the period's units) give ``/metrics`` the same projects' figures as summing the
period and daily rollups, through stores on one day, a running job's newer records, the next
day, a repair of a rollup and a new quarter, on SQLite and PostgreSQL (and ``usage_burn``
equals the sums after every store: ``burn_matches_daily``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from accounting.burn import WINDOWS
from accounting.charging import UTC_QUARTERS
from connectors.db import project_figures
from connectors.db.burn_tables import UsageBurnStateRow
from connectors.db.consumption import project_windows as summed_windows
from connectors.db.engine import make_session_factory
from connectors.db.housekeeping import SqlHousekeeping
from tests.db.test_accounting import NOV, rec, rollup_matches_charges, store, world

DAY = 86400
Figures = dict[tuple[str, str], tuple[int, ...]]


def read(engine: Engine, epoch: int) -> tuple[Figures | None, Figures]:
    """The projects' figures at ``epoch`` as ``/metrics`` reads them from ``usage_burn``
    (``None`` when it holds another day's) and as the rollups sum them: per pool and project,
    (allocated, balance, final, provisional, 7-day units, 30-day units), the windows of
    accounts mapped to no project left out, figures all 0 left out."""
    period = UTC_QUARTERS.containing(datetime.fromtimestamp(epoch, UTC)).label
    with engine.connect() as conn:
        kept = project_figures.projects_kept(conn, period, epoch // DAY)
        rows = project_figures.project_figures(conn, period)
        windows = summed_windows(conn, epoch, UTC_QUARTERS)
    expected = {(r[0], r[1]): (*r[3:7], *windows.get((r[1], r[0]), (0, 0))) for r in rows}
    if kept is None:
        return None, figures_only(expected)
    got = {(r[0], r[1]): (*r[3:7], *(r[7:9] if r[1] else (0, 0))) for r in kept}
    return figures_only(got), figures_only(expected)


def figures_only(figures: Figures) -> Figures:
    return {k: v for k, v in figures.items() if any(v)}


def state_day(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return conn.scalar(select(UsageBurnStateRow.day))


def test_the_kept_figures_equal_the_summed_ones_from_day_to_day(engine: Engine) -> None:
    assert WINDOWS == (7, 30)
    world(engine)
    now = NOV + 40 * DAY
    old = [rec(i, NOV + i * DAY, 7200, 2) for i in range(40)]  # some in, some out of windows
    store(engine, old, now)
    assert state_day(engine) == now // DAY
    kept, expected = read(engine, now)
    assert kept == expected
    figures = expected[("loc", "p1")]
    assert figures[5] > figures[4] > 0 and figures[2] > figures[5]  # 30-day > 7-day, period
    # a running job, then its newer (longer) record: differences added to the kept rows
    running = rec(100, now - 3 * DAY, 2 * DAY, 4, state="RUNNING", end=None)
    store(engine, [running], now)
    kept, expected = read(engine, now + 10)
    assert kept == expected and expected[("loc", "p1")][3] > 0  # provisional
    store(engine, [rec(100, now - 3 * DAY, 3 * DAY - 60, 4)], now + 30)
    rollup_matches_charges(engine)
    kept, expected = read(engine, now + 60)
    assert state_day(engine) == now // DAY
    assert kept == expected and expected[("loc", "p1")][3] == 0
    # the next day: nothing kept for it before a store (the rollups are summed), then kept
    tomorrow = now + DAY
    kept, expected = read(engine, tomorrow)
    assert kept is None and expected
    store(engine, [rec(200, tomorrow - 600, 300)], tomorrow)
    assert state_day(engine) == tomorrow // DAY
    rollup_matches_charges(engine)
    kept, expected = read(engine, tomorrow)
    assert kept == expected


def test_a_new_quarter_keeps_the_figures_of_its_own(engine: Engine) -> None:
    world(engine)
    end = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    store(engine, [rec(1, end - 5 * DAY, 7200), rec(2, end - DAY, 3 * DAY)], end - 3600)
    kept, expected = read(engine, end - 3600)
    assert kept == expected and expected[("loc", "p1")][2] > 0  # 2026Q4's units
    store(engine, [rec(3, end + 3600, 600)], end + 7200)
    rollup_matches_charges(engine)
    before = expected[("loc", "p1")]
    kept, expected = read(engine, end + 7200)
    assert kept == expected and expected[("loc", "p1")] != before  # 2027Q1's


def test_a_repaired_rollup_has_its_figures_summed_again(engine: Engine) -> None:
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
    assert kept is None and expected
    store(engine, [rec(2, now - 600, 300)], now)  # summed again
    kept, expected = read(engine, now)
    assert kept == expected
    with make_session_factory(engine)() as session:
        SqlHousekeeping(session).rebuild_period("2026Q4")
        session.commit()
    assert state_day(engine) is None
