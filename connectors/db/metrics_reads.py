"""The metrics read model: the SQL reads behind the database-derived ``/metrics`` families.

Each function is one query on the collection's connection (``connectors.metrics.business``
runs them all in one read-only transaction), returning plain values; the consumption and the
burn windows are ``connectors.db.consumption``'s, as the API's balances read them. A fixed
number of queries per scrape, whatever the number of projects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Connection, and_, case, func, literal, or_, select, union_all

from allocator.model import EntryKind, project_account
from connectors.db import tables as t

D = t.UsageDailyRow
P = t.UsagePeriodRow

#: ``(period, pool, cluster, gpu_type, final GPU-seconds, units)`` of the period rollup.
PeriodUsage = tuple[str, str, str, str, int, int]
#: ``(source, target, kind) -> amount`` of a pool's deposits and withdrawals in one period.
CapacityFlows = dict[tuple[str, str, EntryKind], int]
#: ``(period, pool, first day, last day)``: days ``[first, last)`` of a period's daily rollup.
DaySpan = tuple[str, str, int, int]
#: ``(pool, project, chair, allocated, balance, final, provisional)`` of one project in one
#: pool and period: net allocations and transfers, everything in minus everything out (the
#: difference is its adjustments), units consumed (final, provisional). Project ``""`` holds
#: the usage of accounts mapped to no project (its chair ``""``, its ledger figures 0).
ProjectFigures = tuple[str, str, str, int, int, int, int]
#: ``(pool, account, kind, inflow, outflow)`` of the ledger's pool and chair accounts.
AccountFlows = tuple[str, str, EntryKind, int, int]

#: The kinds of entries that make a project's allocation (``allocator.ledger``'s).
_ALLOCATION_KINDS = [EntryKind.ALLOCATE, EntryKind.RELEASE, EntryKind.TRANSFER]
_PROJECT = project_account("")


class PoolInfo(NamedTuple):
    id: str
    valid_from: datetime | None
    valid_until: datetime | None


class IngestHealth(NamedTuple):
    """What the ingestion families read: each cluster's ``ingest_state`` row, the failed
    fetches by kind and the records in quarantine."""

    states: dict[str, Any]
    errors: list[tuple[str, str, int]]
    quarantined: dict[str, int]


def pools(conn: Connection) -> list[PoolInfo]:
    """Every pool with its validity, by id."""
    R = t.PoolRow
    return [
        PoolInfo(*row)
        for row in conn.execute(select(R.id, R.valid_from, R.valid_until).order_by(R.id))
    ]


def usage_by_period(conn: Connection) -> list[PeriodUsage]:
    """:data:`PeriodUsage` rows of the period rollup: the usage counters, and the grants'
    consumption."""
    query = select(
        P.period,
        P.pool_id,
        P.cluster,
        P.gpu_type,
        func.sum(case((~P.provisional, P.gpu_seconds), else_=0)).cast(BigInteger),
        func.sum(P.units).cast(BigInteger),
    ).group_by(P.period, P.pool_id, P.cluster, P.gpu_type)
    return [
        (period, pool, cluster, gpu_type, int(final or 0), int(units or 0))
        for period, pool, cluster, gpu_type, final, units in conn.execute(query)
    ]


def capacity_flows(
    conn: Connection, pool_ids: Iterable[str]
) -> dict[tuple[str, str], CapacityFlows]:
    """``(pool, period) ->`` :data:`CapacityFlows` of the pools ``pool_ids``: the journal's
    deposits and withdrawals, summed."""
    E = t.LedgerEntryRow
    out: dict[tuple[str, str], CapacityFlows] = defaultdict(dict)
    for pool_id, period, source, target, kind, amount in conn.execute(
        select(E.pool_id, E.period, E.source, E.target, E.kind, func.sum(E.amount))
        .where(
            E.pool_id.in_(list(pool_ids)),
            E.kind.in_([EntryKind.DEPOSIT, EntryKind.WITHDRAWAL]),
        )
        .group_by(E.pool_id, E.period, E.source, E.target, E.kind)
    ):
        out[(pool_id, period)][(source, target, EntryKind(kind))] = int(amount)
    return out


def units_on_days(conn: Connection, spans: Sequence[DaySpan]) -> dict[str, int]:
    """Pool -> units charged on the days of ``spans`` (the daily rollup)."""
    if not spans:
        return {}
    partial = [
        and_(D.period == label, D.pool_id == pool_id, D.day >= first, D.day < last)
        for label, pool_id, first, last in spans
    ]
    out: dict[str, int] = defaultdict(int)
    for pool_id, units in conn.execute(
        select(D.pool_id, func.sum(D.units)).where(or_(*partial)).group_by(D.pool_id)
    ):
        out[pool_id] += int(units or 0)
    return out


def ingest_health(conn: Connection) -> IngestHealth:
    S, E, Q = t.IngestStateRow, t.IngestErrorCountRow, t.QuarantineRow
    states = {row.cluster: row for row in conn.execute(select(S))}
    errors = [
        (cluster, kind, count)
        for cluster, kind, count in conn.execute(
            select(E.cluster, E.kind, E.count).order_by(E.cluster, E.kind)
        )
    ]
    quarantined = dict(
        conn.execute(select(Q.cluster, func.count()).group_by(Q.cluster)).tuples().all()
    )
    return IngestHealth(states, errors, quarantined)


def period_closes(conn: Connection) -> list[tuple[str, datetime]]:
    """``(period, closed_at)`` of every closed period."""
    R = t.PeriodCloseRow
    return [
        (period, closed_at) for period, closed_at in conn.execute(select(R.period, R.closed_at))
    ]


def pools_with_statement(conn: Connection, period: str) -> set[str]:
    """The pools with a statement imported for ``period``."""
    S = t.StatementRow
    return set(conn.scalars(select(S.pool_id).where(S.period == period)).all())


def unmapped_usage(conn: Connection, period: str) -> dict[str, tuple[int, int]]:
    """Cluster -> (GPU-seconds, accounts) of ``period`` charged to Slurm accounts no project is
    mapped to (final and provisional, routed to a pool or not): one query over the period
    rollup, attribution through the current mappings (as every read)."""
    M = t.SlurmAccountRow
    query = (
        select(
            P.cluster,
            func.sum(P.gpu_seconds).cast(BigInteger),
            func.count(func.distinct(P.account)),
        )
        .outerjoin(M, and_(M.cluster == P.cluster, M.account == P.account))
        .where(P.period == period, M.project_id.is_(None))
        .group_by(P.cluster)
    )
    return {
        cluster: (int(seconds or 0), int(accounts))
        for cluster, seconds, accounts in conn.execute(query)
        if seconds or accounts
    }


def project_figures(conn: Connection, period: str) -> list[ProjectFigures]:
    """:data:`ProjectFigures` of every project with a ledger entry or a consumption in
    ``period``, for every pool, in one query: the journal's entries to and from project
    accounts and the period rollup (attributed through the current mappings) summed together,
    as ``allocator.ledger.all_project_balances`` and the balances' consumption read them."""
    E, A, PR = t.LedgerEntryRow, t.SlurmAccountRow, t.ProjectRow
    start = len(_PROJECT) + 1
    allocation = E.kind.in_(_ALLOCATION_KINDS)
    zero = literal(0, BigInteger)

    def side(account: Any, sign: int) -> Any:
        amount = E.amount * sign
        return select(
            E.pool_id.label("pool"),
            func.substr(account, start).label("project"),
            case((allocation, amount), else_=0).label("allocated"),
            amount.label("balance"),
            zero.label("final"),
            zero.label("provisional"),
        ).where(E.period == period, account.like(_PROJECT + "%"))

    used = (
        select(
            P.pool_id,
            func.coalesce(A.project_id, ""),
            zero,
            zero,
            case((~P.provisional, P.units), else_=0),
            case((P.provisional, P.units), else_=0),
        )
        .select_from(P)
        .outerjoin(A, and_(A.cluster == P.cluster, A.account == P.account))
        .where(P.period == period, P.pool_id.in_(select(t.PoolRow.id)))
    )
    parts = union_all(side(E.target, 1), side(E.source, -1), used).subquery()
    sums = [
        func.sum(parts.c[name]).cast(BigInteger)
        for name in ("allocated", "balance", "final", "provisional")
    ]
    query = (
        select(parts.c.pool, parts.c.project, func.coalesce(PR.chair_id, ""), *sums)
        .select_from(parts)
        .outerjoin(PR, PR.id == parts.c.project)
        .group_by(parts.c.pool, parts.c.project, PR.chair_id)
    )
    return [tuple(row) for row in conn.execute(query).all()]  # fetched at once: fast


def account_flows(conn: Connection, period: str) -> list[AccountFlows]:
    """:data:`AccountFlows` of ``period``: what each pool and chair account received and
    gave, by kind (every balance of those accounts is a function of these sums)."""
    E = t.LedgerEntryRow

    def side(account: Any, inflow: Any, outflow: Any) -> Any:
        return select(
            E.pool_id.label("pool"),
            account.label("account"),
            E.kind.label("kind"),
            inflow.label("inflow"),
            outflow.label("outflow"),
        ).where(E.period == period, ~account.like(_PROJECT + "%"))

    zero = literal(0, BigInteger)
    parts = union_all(side(E.target, E.amount, zero), side(E.source, zero, E.amount)).subquery()
    query = select(
        parts.c.pool,
        parts.c.account,
        parts.c.kind,
        func.sum(parts.c.inflow).cast(BigInteger),
        func.sum(parts.c.outflow).cast(BigInteger),
    ).group_by(parts.c.pool, parts.c.account, parts.c.kind)
    kinds = {k.value: k for k in EntryKind}
    return [
        (pool, account, kinds[kind], int(inflow), int(outflow))
        for pool, account, kind, inflow, outflow in conn.execute(query)
    ]
