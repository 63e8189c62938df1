"""The metrics read model: the SQL reads behind the database-derived ``/metrics`` families.

Each read is a statement built once and the function that shapes its rows
(:class:`connectors.db.read_batch.Read`); ``connectors.metrics.business`` sends them all at
once on the collection's read-only transaction (:func:`~connectors.db.read_batch.batch`:
PostgreSQL's pipeline mode, one snapshot), and the functions below run one alone. The
consumption and the burn windows are ``connectors.db.consumption``'s, as the API's balances
read them. A fixed number of queries per scrape, whatever the number of projects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)

from allocator.model import EntryKind, project_account
from connectors.db import tables as t
from connectors.db.burn_tables import UsageBurnRow, UsageBurnStateRow
from connectors.db.read_batch import Read, Rows, run, utc

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
#: The period a read is about (its value is given when it is sent).
_PERIOD = bindparam("period", "", type_=String)


class PoolInfo(NamedTuple):
    id: str
    valid_from: datetime | None
    valid_until: datetime | None


class IngestStateInfo(NamedTuple):
    """A cluster's ``ingest_state`` row, as the ingestion families read it."""

    cluster: str
    watermark: int | None
    last_success: int | None
    last_attempt: int | None
    last_error: str
    last_error_kind: str
    records_total: int


class IngestHealth(NamedTuple):
    """What the ingestion families read: each cluster's ``ingest_state`` row, the failed
    fetches by kind and the records in quarantine."""

    states: dict[str, IngestStateInfo]
    errors: list[tuple[str, str, int]]
    quarantined: dict[str, int]


# --- the small reads -------------------------------------------------------------------------


def _pool_infos(rows: Rows) -> list[PoolInfo]:
    return [PoolInfo(pool_id, utc(start), utc(end)) for pool_id, start, end in rows]


_R = t.PoolRow
#: Every pool with its validity, by id.
POOLS = Read(select(_R.id, _R.valid_from, _R.valid_until).order_by(_R.id), _pool_infos)


def _period_usage(rows: Rows) -> list[PeriodUsage]:
    return [
        (period, pool, cluster, gpu_type, int(final or 0), int(units or 0))
        for period, pool, cluster, gpu_type, final, units in rows
    ]


#: :data:`PeriodUsage` rows of the period rollup: the usage counters, and the grants'
#: consumption.
USAGE_BY_PERIOD = Read(
    select(
        P.period,
        P.pool_id,
        P.cluster,
        P.gpu_type,
        func.sum(case((~P.provisional, P.gpu_seconds), else_=0)).cast(BigInteger),
        func.sum(P.units).cast(BigInteger),
    ).group_by(P.period, P.pool_id, P.cluster, P.gpu_type),
    _period_usage,
)


def _capacity(rows: Rows) -> dict[tuple[str, str], CapacityFlows]:
    out: dict[tuple[str, str], CapacityFlows] = defaultdict(dict)
    for pool_id, period, source, target, kind, amount in rows:
        out[(pool_id, period)][(source, target, EntryKind(kind))] = int(amount)
    return out


_E = t.LedgerEntryRow
#: ``(pool, period) ->`` :data:`CapacityFlows` of every pool: the journal's deposits and
#: withdrawals, summed.
CAPACITY = Read(
    select(_E.pool_id, _E.period, _E.source, _E.target, _E.kind, func.sum(_E.amount))
    .where(_E.kind.in_([EntryKind.DEPOSIT, EntryKind.WITHDRAWAL]))
    .group_by(_E.pool_id, _E.period, _E.source, _E.target, _E.kind),
    _capacity,
)


def pools(conn: Connection) -> list[PoolInfo]:
    """Every pool with its validity, by id."""
    return run(conn, POOLS)


def usage_by_period(conn: Connection) -> list[PeriodUsage]:
    """:data:`PeriodUsage` rows of the period rollup."""
    return run(conn, USAGE_BY_PERIOD)


def capacity_flows(
    conn: Connection, pool_ids: Iterable[str]
) -> dict[tuple[str, str], CapacityFlows]:
    """``(pool, period) ->`` :data:`CapacityFlows` of the pools ``pool_ids``."""
    wanted = set(pool_ids)
    return {key: f for key, f in run(conn, CAPACITY).items() if key[0] in wanted}


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


_S, _X, _Q = t.IngestStateRow, t.IngestErrorCountRow, t.QuarantineRow
#: Each cluster's ingestion state.
INGEST_STATES = Read(
    select(
        _S.cluster,
        _S.watermark,
        _S.last_success,
        _S.last_attempt,
        _S.last_error,
        _S.last_error_kind,
        _S.records_total,
    ),
    lambda rows: {row[0]: IngestStateInfo(*row) for row in rows},
)
#: ``(cluster, kind, count)`` of the failed fetches.
INGEST_ERRORS = Read(
    select(_X.cluster, _X.kind, _X.count).order_by(_X.cluster, _X.kind),
    lambda rows: [(cluster, kind, int(count)) for cluster, kind, count in rows],
)
#: Cluster -> records in quarantine.
QUARANTINED = Read(
    select(_Q.cluster, func.count()).group_by(_Q.cluster),
    lambda rows: {cluster: int(n) for cluster, n in rows},
)


def ingest_health(conn: Connection) -> IngestHealth:
    return IngestHealth(run(conn, INGEST_STATES), run(conn, INGEST_ERRORS), run(conn, QUARANTINED))


_C = t.PeriodCloseRow
#: ``(period, closed_at)`` of every closed period.
PERIOD_CLOSES = Read(
    select(_C.period, _C.closed_at),
    lambda rows: [(period, utc(at)) for period, at in rows],
)


def period_closes(conn: Connection) -> list[tuple[str, datetime]]:
    """``(period, closed_at)`` of every closed period."""
    return run(conn, PERIOD_CLOSES)


def pools_with_statement(conn: Connection, period: str) -> set[str]:
    """The pools with a statement imported for ``period``."""
    S = t.StatementRow
    return set(conn.scalars(select(S.pool_id).where(S.period == period)).all())


def _unmapped(rows: Rows) -> dict[str, tuple[int, int]]:
    return {
        cluster: (int(seconds or 0), int(accounts))
        for cluster, seconds, accounts in rows
        if seconds or accounts
    }


_M = t.SlurmAccountRow
#: Cluster -> (GPU-seconds, accounts) of the period charged to Slurm accounts no project is
#: mapped to (final and provisional, routed to a pool or not): one query over the period
#: rollup, attribution through the current mappings (as every read).
UNMAPPED = Read(
    select(
        P.cluster,
        func.sum(P.gpu_seconds).cast(BigInteger),
        func.count(func.distinct(P.account)),
    )
    .outerjoin(_M, and_(_M.cluster == P.cluster, _M.account == P.account))
    .where(P.period == _PERIOD, _M.project_id.is_(None))
    .group_by(P.cluster),
    _unmapped,
)


def unmapped_usage(conn: Connection, period: str) -> dict[str, tuple[int, int]]:
    """Cluster -> (GPU-seconds, accounts) of ``period`` charged to unmapped accounts."""
    return run(conn, UNMAPPED, period=period)


# --- the big ones: the projects' figures, the pool and chair accounts' flows -----------------


def _project_figures_query() -> Select[Any]:
    """:data:`ProjectFigures` of every project with a ledger entry or a consumption in the
    period, for every pool, in one query: the journal's entries to and from project accounts
    and the period rollup (attributed through the current mappings) summed together, as
    ``allocator.ledger.all_project_balances`` and the balances' consumption read them."""
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
        ).where(E.period == _PERIOD, account.like(_PROJECT + "%"))

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
        .where(P.period == _PERIOD, P.pool_id.in_(select(t.PoolRow.id)))
    )
    parts = union_all(side(E.target, 1), side(E.source, -1), used).subquery()
    sums = [
        func.sum(parts.c[name]).cast(BigInteger)
        for name in ("allocated", "balance", "final", "provisional")
    ]
    return (
        select(parts.c.pool, parts.c.project, func.coalesce(PR.chair_id, ""), *sums)
        .select_from(parts)
        .outerjoin(PR, PR.id == parts.c.project)
        .group_by(parts.c.pool, parts.c.project, PR.chair_id)
    )


PROJECT_FIGURES: Read[Rows] = Read(_project_figures_query(), lambda rows: rows)


def project_figures(conn: Connection, period: str) -> Rows:
    """:data:`ProjectFigures` of every project of ``period`` (see ``PROJECT_FIGURES``)."""
    return run(conn, PROJECT_FIGURES, period=period)


def _account_flows_query() -> Select[Any]:
    E = t.LedgerEntryRow

    def side(account: Any, inflow: Any, outflow: Any) -> Any:
        return select(
            E.pool_id.label("pool"),
            account.label("account"),
            E.kind.label("kind"),
            inflow.label("inflow"),
            outflow.label("outflow"),
        ).where(E.period == _PERIOD, ~account.like(_PROJECT + "%"))

    zero = literal(0, BigInteger)
    parts = union_all(side(E.target, E.amount, zero), side(E.source, zero, E.amount)).subquery()
    return select(
        parts.c.pool,
        parts.c.account,
        parts.c.kind,
        func.sum(parts.c.inflow).cast(BigInteger),
        func.sum(parts.c.outflow).cast(BigInteger),
    ).group_by(parts.c.pool, parts.c.account, parts.c.kind)


_KINDS = {k.value: k for k in EntryKind}
#: :data:`AccountFlows` of the period: what each pool and chair account received and gave,
#: by kind (every balance of those accounts is a function of these sums).
ACCOUNT_FLOWS = Read(
    _account_flows_query(),
    lambda rows: [
        (pool, account, _KINDS[kind], int(inflow), int(outflow))
        for pool, account, kind, inflow, outflow in rows
    ],
)


def _entries_query() -> Select[Any]:
    """The journal's side of :data:`ProjectFigures` (``final``, ``provisional`` 0): the entries
    to and from project accounts in the period, summed per pool and project, as
    ``allocator.ledger.all_project_balances`` reads them."""
    E, PR = t.LedgerEntryRow, t.ProjectRow
    start = len(_PROJECT) + 1
    allocation = E.kind.in_(_ALLOCATION_KINDS)

    def side(account: Any, sign: int) -> Any:
        amount = E.amount * sign
        return select(
            E.pool_id.label("pool"),
            func.substr(account, start).label("project"),
            case((allocation, amount), else_=0).label("allocated"),
            amount.label("balance"),
        ).where(E.period == _PERIOD, account.like(_PROJECT + "%"))

    parts = union_all(side(E.target, 1), side(E.source, -1)).subquery()
    zero = literal(0, BigInteger)
    return (
        select(
            parts.c.pool,
            parts.c.project,
            func.coalesce(PR.chair_id, ""),
            func.sum(parts.c.allocated).cast(BigInteger),
            func.sum(parts.c.balance).cast(BigInteger),
            zero,
            zero,
        )
        .select_from(parts)
        .outerjoin(PR, PR.id == parts.c.project)
        .group_by(parts.c.pool, parts.c.project, PR.chair_id)
    )


PROJECT_ENTRIES: Read[Rows] = Read(_entries_query(), lambda rows: rows)


def _kept_query() -> Select[Any]:
    B, S, A, PR = UsageBurnRow, UsageBurnStateRow, t.SlurmAccountRow, t.ProjectRow
    e = _entries_query().subquery()
    project = func.coalesce(A.project_id, "")
    u = (
        select(
            B.pool_id.label("pool"),
            project.label("project"),
            *[func.sum(c).label(c.key) for c in _KEPT],
        )
        .select_from(B)
        .outerjoin(A, and_(A.cluster == B.cluster, A.account == B.account))
        .where(B.pool_id.in_(select(t.PoolRow.id)))
        .group_by(B.pool_id, project)
        .subquery()
    )
    pool = func.coalesce(e.c.pool, u.c.pool)
    who = func.coalesce(e.c.project, u.c.project)
    kept = (
        select(func.count())
        .where(S.id == 1, S.day == bindparam("today", 0, type_=Integer), S.period == _PERIOD)
        .scalar_subquery()
    )
    zero = literal(0, BigInteger)
    return (
        select(
            pool,
            who,
            func.coalesce(PR.chair_id, ""),
            *[func.coalesce(e.c[i], zero).cast(BigInteger) for i in (3, 4)],
            *[func.coalesce(u.c[c.key], zero).cast(BigInteger) for c in _KEPT],
            kept,
        )
        .select_from(e.join(u, and_(e.c[0] == u.c.pool, e.c[1] == u.c.project), full=True))
        .outerjoin(PR, PR.id == who)
    )


_KEPT = (
    UsageBurnRow.final_units,
    UsageBurnRow.provisional_units,
    UsageBurnRow.units_7d,
    UsageBurnRow.units_30d,
)
#: ``(pool, project, chair, allocated, balance, final, provisional, 7-day units, 30-day
#: units, 1)``: :data:`ProjectFigures` and the burn windows of every project of the period, the
#: journal's side put together with ``usage_burn``'s, in one query; ``None`` unless
#: ``usage_burn`` holds the figures of local day ``today`` in the period (the state is read
#: by the same statement).
PROJECTS_KEPT: Read[Rows | None] = Read(
    _kept_query(), lambda rows: rows if rows and rows[0][9] else None
)


def merge_figures(entries: Rows, used: Rows) -> list[ProjectFigures]:
    """:data:`ProjectFigures` from the journal's side (:data:`PROJECT_ENTRIES`) and the
    consumption's (rows beginning ``(pool, project, chair, final, provisional)``), one row per
    pool and project, as :data:`PROJECT_FIGURES` sums them."""
    out: dict[tuple[str, str], ProjectFigures] = {(r[0], r[1]): r for r in entries}
    for pool_id, project, chair, final, provisional, *_windows in used:
        found = out.get((pool_id, project))
        if found is None:
            out[(pool_id, project)] = (pool_id, project, chair, 0, 0, final, provisional)
        else:
            out[(pool_id, project)] = (*found[:5], found[5] + final, found[6] + provisional)
    return list(out.values())


def account_flows(conn: Connection, period: str) -> list[AccountFlows]:
    """:data:`AccountFlows` of ``period``."""
    return run(conn, ACCOUNT_FLOWS, period=period)
