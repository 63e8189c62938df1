"""The burn windows kept pre-aggregated: ``usage_burn`` holds, per pool and Slurm account, the
units of the 7- and 30-day windows (``accounting.burn.WINDOWS``) ending on one local day, the
day ``usage_burn_state`` names.

Written in the transaction that moves ``usage_daily`` (``connectors.db.charge_store``), under
a lock on the state row, so that writers apply their differences one after the other:

* when the state names the day of the writer's ``now``, the non-late differences of the days
  in the windows are added to the rows (one upsert);
* otherwise (a new day, or the state was cleared) the rows are summed again from
  ``usage_daily``, which already holds the writer's own differences, and the state moves to
  that day.

A repair of ``usage_daily`` (housekeeping) clears the state. ``/metrics`` reads the rows when
the state names the day of its scrape, and sums ``usage_daily`` as before otherwise (the first
scrapes of a day before any ingestion): the same figures either way
(``tests/db/test_burn_windows.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Select,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accounting.burn import WINDOWS
from accounting.charging import local_days
from allocator.periods import Calendar
from connectors.db import tables as t
from connectors.db.burn_tables import UsageBurnRow, UsageBurnStateRow
from connectors.db.consumption import A, _window_days, _window_query
from connectors.db.consumption import project_windows as summed_windows
from connectors.db.read_batch import Read, run

B = UsageBurnRow
S = UsageBurnStateRow
Windows = dict[tuple[str, str], tuple[int, int]]


def move(
    conn: Connection,
    deltas: Mapping[tuple[Any, ...], Sequence[int]],
    now: int,
    calendar: Calendar,
    postgres: bool,
) -> None:
    """Keep ``usage_burn`` the windows ending on ``now``'s local day, after ``usage_daily``
    moved by ``deltas`` (its key -> ``(gpu_seconds, units, rows)``) in this transaction."""
    today = local_days(calendar).of(now)
    state = conn.execute(select(S.day).where(S.id == 1).with_for_update()).first()
    if state is None or state[0] != today:
        rebuild(conn, today, calendar)
        return
    first, week, _today, _periods = _window_days(now, calendar)
    sums: dict[tuple[str, str, str], list[int]] = {}
    for key, d in deltas.items():
        _period, pool_id, cluster, account, day, _gpu, _prov, late, _priced = key
        if late or not first <= day <= today or not d[1]:
            continue
        acc = sums.setdefault((pool_id, cluster, account), [0, 0])
        acc[0] += d[1] if day >= week else 0
        acc[1] += d[1]
    rows = [
        {"pool_id": k[0], "cluster": k[1], "account": k[2], "units_7d": w7, "units_30d": w30}
        for k, (w7, w30) in sorted(sums.items())
    ]
    if not rows:
        return
    stmt = (pg_insert if postgres else sqlite_insert)(B)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["pool_id", "cluster", "account"],
            set_={n: B.__table__.c[n] + stmt.excluded[n] for n in ("units_7d", "units_30d")},
        ),
        rows,
    )


def rebuild(conn: Connection, today: int, calendar: Calendar) -> None:
    """Sum the windows ending on local day ``today`` again from ``usage_daily``."""
    D = t.UsageDailyRow
    at = local_days(calendar).start(today)
    conn.execute(delete(B))
    conn.execute(
        insert(B).from_select(
            ["pool_id", "cluster", "account", "units_7d", "units_30d"],
            _window_query(at, calendar, D.pool_id, D.cluster, D.account),
        )
    )
    found = conn.execute(update(S).where(S.id == 1).values(day=today)).rowcount
    if not found:
        conn.execute(insert(S).values(id=1, day=today))


def clear(conn: Connection) -> None:
    """The windows are to be summed again (``usage_daily`` was changed some other way)."""
    conn.execute(update(S).where(S.id == 1).values(day=None))


def project_windows(conn: Connection, epoch: int, calendar: Calendar) -> Windows:
    """``(project, pool) -> (7-day, 30-day units)`` at ``epoch``, as
    :func:`connectors.db.consumption.project_windows` sums them, from ``usage_burn`` when it
    holds the windows of ``epoch``'s day (a pair may then be ``(0, 0)`` where the sum has
    none)."""
    return windows_or_sum(
        conn, run(conn, PROJECT_WINDOWS, today=today_of(epoch, calendar)), epoch, calendar
    )


def today_of(epoch: int, calendar: Calendar) -> int:
    """The local day whose windows :data:`PROJECT_WINDOWS` reads at ``epoch``."""
    return local_days(calendar).of(epoch)


def windows_or_sum(conn: Connection, read: Windows, epoch: int, calendar: Calendar) -> Windows:
    """What :data:`PROJECT_WINDOWS` read, or, when it found nothing (``usage_burn`` holds another
    day's windows, or none), the windows summed from ``usage_daily``."""
    return read if read else summed_windows(conn, epoch, calendar)


def _windows_query() -> Select[Any]:
    today = bindparam("today", 0, type_=Integer)
    return (
        select(
            A.project_id,
            B.pool_id,
            func.sum(B.units_7d).cast(BigInteger),
            func.sum(B.units_30d).cast(BigInteger),
        )
        .join(A, and_(A.cluster == B.cluster, A.account == B.account))
        .join(S, and_(S.id == 1, S.day == today))  # only the windows of that day
        .group_by(A.project_id, B.pool_id)
    )


#: ``(project, pool) -> (7-day, 30-day units)`` from ``usage_burn``, when it holds the
#: windows of local day ``today`` (else nothing).
PROJECT_WINDOWS: Read[Windows] = Read(
    _windows_query() if len(WINDOWS) == 2 else select(literal(None)).where(false()),
    lambda rows: {(project, pool): (w7, w30) for project, pool, w7, w30 in rows},
)
