"""The projects' figures behind ``/metrics``: per pool and project, the journal's side of its
balance, what it consumed in the period and its burn windows, in one query.

:data:`PROJECTS_KEPT` reads the consumption and the windows from ``usage_burn``
(``connectors.db.burn_windows``: kept per pool and Slurm account by the ingestion), when it
holds those of the scrape's day and period; else :data:`PROJECT_FIGURES` sums the period
rollup (its windows then come from ``connectors.db.consumption.project_windows``). Both give
the same figures (``tests/db/test_burn_windows.py``), attributed through the current
mappings as every read, as ``allocator.ledger.all_project_balances`` and the balances'
consumption read them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    union_all,
)

from allocator.model import EntryKind, project_account
from connectors.db import tables as t
from connectors.db.burn_tables import UsageBurnRow, UsageBurnStateRow
from connectors.db.read_batch import Read, Rows, run

#: ``(pool, project, chair, allocated, balance, final, provisional, 7-day units, 30-day
#: units)`` of one project in one pool and period: net allocations and transfers, everything
#: in minus everything out (the difference is its adjustments), units consumed (final,
#: provisional) and over the two burn windows. Project ``""`` holds the usage of accounts
#: mapped to no project (its chair ``""``, its ledger figures 0).
ProjectFigures = tuple[str, str, str, int, int, int, int, int, int]

#: The kinds of entries that make a project's allocation (``allocator.ledger``'s).
_ALLOCATION_KINDS = [EntryKind.ALLOCATE, EntryKind.RELEASE, EntryKind.TRANSFER]
_PROJECT = project_account("")
_PERIOD = bindparam("period", "", type_=String)
#: The consumption's columns, in :data:`ProjectFigures` order.
_USED = ("final_units", "provisional_units", "units_7d", "units_30d")
A, B, P, S = t.SlurmAccountRow, UsageBurnRow, t.UsagePeriodRow, UsageBurnStateRow


def _entries() -> Subquery:
    """The entries to and from project accounts in the period, summed per pool and project."""
    E = t.LedgerEntryRow
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
    return (
        select(
            parts.c.pool,
            parts.c.project,
            func.sum(parts.c.allocated).label("allocated"),
            func.sum(parts.c.balance).label("balance"),
        )
        .group_by(parts.c.pool, parts.c.project)
        .subquery()
    )


def _with_entries(used: Subquery, *more: Any) -> Select[Any]:
    """:data:`ProjectFigures` (and ``more``): the entries and ``used`` (per pool and project:
    :data:`_USED`) put together."""
    e = _entries()
    pool = func.coalesce(e.c.pool, used.c.pool)
    project = func.coalesce(e.c.project, used.c.project)
    zero = literal(0, BigInteger)
    PR = t.ProjectRow
    return (
        select(
            pool,
            project,
            func.coalesce(PR.chair_id, ""),
            *[func.coalesce(e.c[name], zero).cast(BigInteger) for name in ("allocated", "balance")],
            *[func.coalesce(used.c[name], zero).cast(BigInteger) for name in _USED],
            *more,
        )
        .select_from(
            e.join(used, and_(e.c.pool == used.c.pool, e.c.project == used.c.project), full=True)
        )
        .outerjoin(PR, PR.id == project)
    )


def _summed() -> Select[Any]:
    """The consumption from the period rollup (the windows 0: summed apart)."""
    project = func.coalesce(A.project_id, "")
    zero = literal(0, BigInteger)
    used = (
        select(
            P.pool_id.label("pool"),
            project.label("project"),
            func.sum(case((~P.provisional, P.units), else_=0)).label("final_units"),
            func.sum(case((P.provisional, P.units), else_=0)).label("provisional_units"),
            zero.label("units_7d"),
            zero.label("units_30d"),
        )
        .outerjoin(A, and_(A.cluster == P.cluster, A.account == P.account))
        .where(P.period == _PERIOD, P.pool_id.in_(select(t.PoolRow.id)))
        .group_by(P.pool_id, project)
        .subquery()
    )
    return _with_entries(used)


def _kept() -> Select[Any]:
    """The consumption and windows from ``usage_burn``; and whether it holds those of the
    day and period asked (read by the same statement)."""
    project = func.coalesce(A.project_id, "")
    used = (
        select(
            B.pool_id.label("pool"),
            project.label("project"),
            *[func.sum(B.__table__.c[name]).label(name) for name in _USED],
        )
        .outerjoin(A, and_(A.cluster == B.cluster, A.account == B.account))
        .where(B.pool_id.in_(select(t.PoolRow.id)))
        .group_by(B.pool_id, project)
        .subquery()
    )
    today = bindparam("today", 0, type_=Integer)
    held = select(func.count()).where(S.id == 1, S.day == today, S.period == _PERIOD)
    return _with_entries(used, held.scalar_subquery())


#: :data:`ProjectFigures` of the period (``period``), summed from the period rollup; the
#: windows are 0 (see :func:`connectors.db.consumption.project_windows`).
PROJECT_FIGURES: Read[Rows] = Read(_summed(), lambda rows: rows)
#: :data:`ProjectFigures` of the period (``period``) from ``usage_burn`` (each row ending in
#: one more column, 1), or ``None`` unless it holds the figures of local day ``today`` in
#: that period.
PROJECTS_KEPT: Read[Rows | None] = Read(_kept(), lambda rows: rows if rows and rows[0][9] else None)


def project_figures(conn: Connection, period: str) -> Rows:
    """:data:`PROJECT_FIGURES` of ``period``."""
    return run(conn, PROJECT_FIGURES, period=period)


def projects_kept(conn: Connection, period: str, today: int) -> Rows | None:
    """:data:`PROJECTS_KEPT` of ``period`` on local day ``today``."""
    return run(conn, PROJECTS_KEPT, period=period, today=today)
