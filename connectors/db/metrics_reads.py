"""The metrics read model: the SQL reads behind the database-derived ``/metrics`` families.

Each read is a statement built once and the function that shapes its rows
(:class:`connectors.db.read_batch.Read`); ``connectors.metrics.business`` sends them together
on the collection's read-only transaction and a second connection
(:func:`~connectors.db.read_batch.batch`), and the functions below run one alone. The
projects' figures are :mod:`connectors.db.project_figures`'. A fixed number of queries per
scrape, whatever the number of projects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
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
from connectors.db.read_batch import Read, Rows, run, utc

D = t.UsageDailyRow
P = t.UsagePeriodRow

#: ``(period, pool, cluster, gpu_type, final GPU-seconds, units)`` of the period rollup.
PeriodUsage = tuple[str, str, str, str, int, int]
#: ``(source, target, kind) -> amount`` of a pool's deposits and withdrawals in one period.
CapacityFlows = dict[tuple[str, str, EntryKind], int]
#: ``(period, pool, first day, last day)``: days ``[first, last)`` of a period's daily rollup.
DaySpan = tuple[str, str, int, int]
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


def _closes(rows: Rows) -> list[tuple[str, datetime]]:
    out = []
    for period, at in rows:
        when = utc(at)
        assert when is not None  # closed_at is not null
        out.append((period, when))
    return out


#: ``(period, closed_at)`` of every closed period.
PERIOD_CLOSES = Read(select(_C.period, _C.closed_at), _closes)


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


# --- the pool and chair accounts' flows -------------------------------------------------------


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


def account_flows(conn: Connection, period: str) -> list[AccountFlows]:
    """:data:`AccountFlows` of ``period``."""
    return run(conn, ACCOUNT_FLOWS, period=period)
