"""Consumption read model: what projects consumed, from the period rollup (``usage_period``).

The rollup is changed in the same transaction as the charges it sums (``SqlUsageStore``), so
these reads are never stale. A Slurm account belongs to the project it is mapped to
(``slurm_accounts``) at read time; usage of unmapped accounts is reported as such, never lost.
Late rows (usage of a closed period, booked in the next open one) count as final consumption
of the period they are booked in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Integer, and_, case, func, select, tuple_
from sqlalchemy.orm import Session

from accounting.burn import WINDOWS, window_of
from accounting.charging import UTC_QUARTERS, local_days
from accounting.ports import Consumed, DailyUse, JobCharge, JobLine
from allocator.periods import Calendar
from allocator.ports import ConsumptionLookup
from connectors.db import tables as t

D = t.UsagePeriodRow
A = t.SlurmAccountRow


def _sums() -> list[Any]:
    return [
        func.sum(case((~D.provisional, D.units), else_=0)),
        func.sum(case((D.provisional, D.units), else_=0)),
        func.sum(case((D.late, D.units), else_=0)),
        func.sum(D.gpu_seconds),
        func.sum(case((~D.priced, D.gpu_seconds), else_=0)),
    ]


def _joined() -> Any:
    return and_(A.cluster == D.cluster, A.account == D.account)


class SqlConsumption:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def consumed(self, project_id: str, pool_id: str, period: str) -> tuple[int, int]:
        """(final, provisional) unit-seconds: what balances need."""
        c = consumption_by_project(self.engine, period, [pool_id]).get(
            (project_id, pool_id), Consumed()
        )
        return c.final, c.provisional

    def within(self, uow: Any) -> ConsumptionLookup:
        """The balances' consumption lookup, read inside ``uow``'s transaction (its snapshot,
        and one connection): one query for any number of projects and pools."""

        def consumed(
            period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
        ) -> dict[tuple[str, str], tuple[int, int]]:
            return balance_consumption(uow.session.connection(), period, pool_ids, project_ids)

        return consumed


def consumption_by_project(
    engine: Engine, period: str, pool_ids: Iterable[str] | None = None
) -> dict[tuple[str, str], Consumed]:
    with engine.connect() as conn:
        return by_project_on(conn, period, pool_ids)


def by_project_on(
    conn: Connection, period: str, pool_ids: Iterable[str] | None
) -> dict[tuple[str, str], Consumed]:
    project = func.coalesce(A.project_id, "")
    query = (
        select(project, D.pool_id, *_sums())
        .select_from(D)
        .outerjoin(A, _joined())
        .where(D.period == period)
        .group_by(project, D.pool_id)
    )
    if pool_ids is not None:
        query = query.where(D.pool_id.in_(list(pool_ids)))
    return {
        (p, pool): Consumed(*(int(v or 0) for v in values))
        for p, pool, *values in conn.execute(query)
    }


def balance_consumption(
    conn: Connection, period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
) -> dict[tuple[str, str], tuple[int, int]]:
    """``(project, pool) -> (final, provisional)`` units of mapped accounts: what balances
    need of :func:`by_project_on`, in one lean query (every project when ``None``)."""
    final = func.sum(case((~D.provisional, D.units), else_=0)).cast(BigInteger)
    provisional = func.sum(case((D.provisional, D.units), else_=0)).cast(BigInteger)
    query = (
        select(A.project_id, D.pool_id, final, provisional)
        .select_from(D)
        .join(A, _joined())
        .where(D.period == period, D.pool_id.in_(list(pool_ids)))
        .group_by(A.project_id, D.pool_id)
    )
    if project_ids is not None:
        query = query.where(A.project_id.in_(list(project_ids)))
    return {(p, pool): (f, v) for p, pool, f, v in conn.execute(query)}


#: ``(pool, cluster, account, units of the last 7 days, of the last 30 days)``
WindowSums = list[tuple[str, str, str, int, int]]


def _window_days(epoch: int, calendar: Calendar) -> tuple[int, int, int, list[str]]:
    """The local days ``(month's first, week's first, today)`` of the two burn-rate windows
    (``accounting.burn.WINDOWS``) at ``epoch`` and the periods they meet."""
    short, long = WINDOWS
    first, today = window_of(epoch, long, calendar)
    week, _ = window_of(epoch, short, calendar)
    days = local_days(calendar)
    periods = [
        p.label
        for p in calendar.between(
            datetime.fromtimestamp(days.start(first), UTC),
            datetime.fromtimestamp(days.start(today + 1), UTC),
        )
    ]
    return first, week, today, periods


def _window_query(epoch: int, calendar: Calendar, *keys: Any) -> Any:
    """The units of the two windows up to ``epoch`` by ``keys``, from the daily rollup (local
    days of ``calendar``), late rows excluded (old usage is not burn). The period filter keeps
    the scan on the rollup's key."""
    DD = t.UsageDailyRow
    first, week, today, periods = _window_days(epoch, calendar)
    return (
        select(
            *keys,
            # bigint, not numeric: the driver then makes ints, not Decimals
            func.sum(case((DD.day >= week, DD.units), else_=0)).cast(BigInteger),
            func.sum(DD.units).cast(BigInteger),
        )
        .where(DD.period.in_(periods), DD.day >= first, DD.day <= today, ~DD.late)
        .group_by(*keys)
    )


def window_sums(
    conn: Connection,
    epoch: int,
    calendar: Calendar = UTC_QUARTERS,
    projects: Sequence[str] | None = None,
) -> WindowSums:
    """Usage over the two burn-rate windows up to ``epoch`` by Slurm account (see
    :func:`_window_query`). With ``projects``, only their accounts' usage."""
    DD = t.UsageDailyRow
    query = _window_query(epoch, calendar, DD.pool_id, DD.cluster, DD.account)
    if projects is not None:
        mapped = select(A.cluster, A.account).where(A.project_id.in_(list(projects)))
        query = query.where(tuple_(DD.cluster, DD.account).in_(mapped))
    return [tuple(row) for row in conn.execute(query)]


def project_windows(
    conn: Connection, epoch: int, calendar: Calendar = UTC_QUARTERS
) -> dict[tuple[str, str], tuple[int, int]]:
    """``(project, pool) -> (7-day, 30-day units)`` of every project with usage over the two
    windows up to ``epoch`` (its mapped accounts'), in one query: what
    :func:`windows_by_project` makes of :func:`window_sums`, without unmapped accounts."""
    DD = t.UsageDailyRow
    query = _window_query(epoch, calendar, A.project_id, DD.pool_id).join(
        A, and_(A.cluster == DD.cluster, A.account == DD.account)
    )
    rows = conn.execute(query).all()  # fetched at once: fast
    return {(project, pool): (w7, w30) for project, pool, w7, w30 in rows}


def windows_by_project(
    sums: WindowSums, accounts: Mapping[tuple[str, str], str]
) -> dict[tuple[str, str], tuple[int, int]]:
    """``(project, pool) -> (7-day, 30-day units)``; unmapped accounts under project ``""``."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for pool_id, cluster, account, week, month in sums:
        key = (accounts.get((cluster, account), ""), pool_id)
        w7, w30 = out.get(key, (0, 0))
        out[key] = (w7 + week, w30 + month)
    return out


def account_projects(
    conn: Connection, projects: Sequence[str] | None = None
) -> dict[tuple[str, str], str]:
    """``(cluster, account) -> project`` of every mapped Slurm account (of ``projects``)."""
    query = select(A.cluster, A.account, A.project_id)
    if projects is not None:
        query = query.where(A.project_id.in_(list(projects)))
    return {(cluster, account): project for cluster, account, project in conn.execute(query)}


def jobs_behind(
    conn: Connection, pool_id: str, period: str, project_id: str, limit: int
) -> list[JobCharge]:
    """The jobs charged to a project (``""``: to unmapped accounts) in a pool and period."""
    C = t.ChargeRow
    query = (
        select(
            C.cluster,
            C.job_id,
            C.submit,
            C.account,
            func.sum(C.gpu_seconds),
            func.sum(C.units),
            func.max(C.provisional.cast(Integer)),
            func.max(C.late.cast(Integer)),
        )
        .select_from(C)
        .outerjoin(A, (A.cluster == C.cluster) & (A.account == C.account))
        .where(C.period == period, C.pool_id == pool_id)
        .group_by(C.cluster, C.job_id, C.submit, C.account)
        .order_by(C.cluster, C.job_id, C.submit)
        .limit(limit)
    )
    query = (
        query.where(A.project_id == project_id)
        if project_id
        else query.where(A.project_id.is_(None))
    )
    return [
        JobCharge(cl, job, sub, acct, int(s), int(u), bool(p), bool(late))
        for cl, job, sub, acct, s, u, p, late in conn.execute(query)
    ]


def daily_of(conn: Connection, project_id: str, period: str) -> list[DailyUse]:
    """A project's usage in ``period`` by pool, local day and GPU type (the daily rollup of
    its mapped accounts)."""
    DD = t.UsageDailyRow
    query = (
        select(
            DD.pool_id,
            DD.day,
            DD.gpu_type,
            func.sum(DD.gpu_seconds).cast(BigInteger),
            func.sum(DD.units).cast(BigInteger),
        )
        .select_from(DD)
        .join(A, and_(A.cluster == DD.cluster, A.account == DD.account))
        .where(DD.period == period, A.project_id == project_id)
        .group_by(DD.pool_id, DD.day, DD.gpu_type)
        .order_by(DD.pool_id, DD.day, DD.gpu_type)
    )
    return [
        DailyUse(pool, day, gpu, int(s), int(u)) for pool, day, gpu, s, u in conn.execute(query)
    ]


def job_lines(conn: Connection, project_id: str, period: str) -> list[JobLine]:
    """A project's jobs in ``period``, by pool, job and GPU type, with their Slurm user."""
    C, U = t.ChargeRow, t.UsageRecordRow
    user = func.coalesce(U.user, "")
    query = (
        select(
            C.pool_id,
            C.cluster,
            C.job_id,
            user,
            C.gpu_type,
            func.sum(C.gpu_seconds).cast(BigInteger),
            func.sum(C.units).cast(BigInteger),
            func.max(C.provisional.cast(Integer)),
        )
        .select_from(C)
        .join(A, and_(A.cluster == C.cluster, A.account == C.account))
        .outerjoin(U, and_(U.cluster == C.cluster, U.job_id == C.job_id, U.submit == C.submit))
        .where(C.period == period, A.project_id == project_id)
        .group_by(C.pool_id, C.cluster, C.job_id, C.submit, user, C.gpu_type)
        .order_by(C.pool_id, C.cluster, C.job_id, C.gpu_type)
    )
    return [
        JobLine(pool, cluster, job, who, gpu, int(s), int(u), bool(p))
        for pool, cluster, job, who, gpu, s, u, p in conn.execute(query)
    ]


class SqlConsumptionReads:
    """``accounting.ports.ConsumptionReads`` inside a unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_project(
        self, period: str, pool_ids: Sequence[str] | None
    ) -> dict[tuple[str, str], Consumed]:
        return by_project_on(self.session.connection(), period, pool_ids)

    def balances(
        self, period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        return balance_consumption(self.session.connection(), period, pool_ids, project_ids)

    def account_projects(self) -> dict[tuple[str, str], str]:
        return account_projects(self.session.connection())

    def jobs_behind(
        self, pool_id: str, period: str, project_id: str, limit: int
    ) -> list[JobCharge]:
        return jobs_behind(self.session.connection(), pool_id, period, project_id, limit)

    def burn_windows(
        self, epoch: int, calendar: Calendar, projects: Sequence[str] | None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        conn = self.session.connection()
        sums = window_sums(conn, epoch, calendar, projects)
        return windows_by_project(sums, account_projects(conn, projects))

    def daily_of(self, project_id: str, period: str) -> list[DailyUse]:
        return daily_of(self.session.connection(), project_id, period)

    def job_lines(self, project_id: str, period: str) -> list[JobLine]:
        return job_lines(self.session.connection(), project_id, period)
