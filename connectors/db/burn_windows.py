"""The projects' figures kept pre-aggregated: ``usage_burn`` holds, per pool and Slurm
account, the units of the 7- and 30-day windows (``accounting.burn.WINDOWS``) ending on one
local day, and the units charged in that day's period (final, provisional): the day and the
period ``usage_burn_state`` names.

Written in the transaction that moves ``usage_daily`` and ``usage_period``
(``connectors.db.charge_store``), under a lock on the state row, so that writers apply their
differences one after the other:

* when the state names the day and period of the writer's ``now``, the differences are
  added to the rows (one upsert): the non-late ones of the days in the windows, and those of
  the period;
* otherwise (a new day, or the state was cleared) the rows are summed again from the
  rollups, which already hold the writer's own differences, and the state moves to that day.

A repair of a rollup (housekeeping) clears the state. ``/metrics`` reads the rows when the
state names the day and period of its scrape (``connectors.db.project_figures``), and sums
the rollups otherwise (the first scrapes of a day before any ingestion): the same figures
either way (``tests/db/test_burn_windows.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accounting.charging import local_days
from allocator.periods import Calendar
from connectors.db import tables as t
from connectors.db.burn_tables import UsageBurnRow, UsageBurnStateRow
from connectors.db.consumption import _window_days, _window_query

B = UsageBurnRow
PR = t.ProjectRow
S = UsageBurnStateRow
Windows = dict[tuple[str, str], tuple[int, int]]


#: The figures ``usage_burn`` keeps per pool and Slurm account, in their column order.
FIGURES = ("units_7d", "units_30d", "final_units", "provisional_units")


def move(
    conn: Connection,
    deltas: Mapping[tuple[Any, ...], Sequence[int]],
    now: int,
    calendar: Calendar,
    postgres: bool,
) -> None:
    """Keep ``usage_burn`` the windows ending on ``now``'s local day and the units of its
    period, after ``usage_daily`` and ``usage_period`` moved by ``deltas`` (the daily key ->
    ``(gpu_seconds, units, rows)``) in this transaction."""
    today = local_days(calendar).of(now)
    period = calendar.containing(datetime.fromtimestamp(now, UTC)).label
    state = conn.execute(select(S.day, S.period).where(S.id == 1).with_for_update()).first()
    if state is None or tuple(state) != (today, period):
        rebuild(conn, today, calendar, period)
        return
    first, week, _today, _periods = _window_days(now, calendar)
    sums: dict[tuple[str, str, str], list[int]] = {}
    for key, d in deltas.items():
        label, pool_id, cluster, account, day, _gpu, provisional, late, _priced = key
        units = d[1]
        if not units or (label != period and (late or not first <= day <= today)):
            continue
        acc = sums.setdefault((pool_id, cluster, account), [0, 0, 0, 0])
        if not late and first <= day <= today:
            acc[0] += units if day >= week else 0
            acc[1] += units
        if label == period:
            acc[3 if provisional else 2] += units
    rows = _rows(sums)
    if not rows:
        return
    stmt = (pg_insert if postgres else sqlite_insert)(B)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["pool_id", "cluster", "account"],
            set_={n: B.__table__.c[n] + stmt.excluded[n] for n in FIGURES},
        ),
        rows,
    )


def _rows(sums: Mapping[tuple[str, str, str], Sequence[int]]) -> list[dict[str, Any]]:
    """``usage_burn`` rows of ``(pool, cluster, account) -> FIGURES``, in key order."""
    return [
        {"pool_id": k[0], "cluster": k[1], "account": k[2], **dict(zip(FIGURES, v, strict=True))}
        for k, v in sorted(sums.items())
    ]


def rebuild(conn: Connection, today: int, calendar: Calendar, period: str | None = None) -> None:
    """Sum the windows ending on local day ``today`` again from ``usage_daily``, and the units
    of ``period`` (by default the period ``today`` begins in) from ``usage_period``."""
    D, P = t.UsageDailyRow, t.UsagePeriodRow
    at = local_days(calendar).start(today)
    if period is None:
        period = calendar.containing(datetime.fromtimestamp(at, UTC)).label
    sums: dict[tuple[str, str, str], list[int]] = {}
    for pool_id, cluster, account, w7, w30 in conn.execute(
        _window_query(at, calendar, D.pool_id, D.cluster, D.account)
    ):
        sums[(pool_id, cluster, account)] = [int(w7 or 0), int(w30 or 0), 0, 0]
    for pool_id, cluster, account, final, provisional in conn.execute(
        select(
            P.pool_id,
            P.cluster,
            P.account,
            func.sum(case((~P.provisional, P.units), else_=0)),
            func.sum(case((P.provisional, P.units), else_=0)),
        )
        .where(P.period == period)
        .group_by(P.pool_id, P.cluster, P.account)
    ):
        acc = sums.setdefault((pool_id, cluster, account), [0, 0, 0, 0])
        acc[2], acc[3] = int(final or 0), int(provisional or 0)
    conn.execute(delete(B))
    if sums:
        conn.execute(insert(B), _rows(sums))
    found = conn.execute(update(S).where(S.id == 1).values(day=today, period=period)).rowcount
    if not found:
        conn.execute(insert(S).values(id=1, day=today, period=period))


def clear(conn: Connection) -> None:
    """The figures are to be summed again (a rollup was changed some other way)."""
    conn.execute(update(S).where(S.id == 1).values(day=None))
