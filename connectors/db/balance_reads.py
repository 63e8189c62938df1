"""The inputs of many balances in one SQL statement (``allocator.ports.BalanceReads``).

``GET /balances`` needs the projects the caller may see, the pools, the ledger's flows and the
consumption of one period. Read one by one in a transaction, that is six round trips to the
database (``BEGIN``, four ``SELECT``, ``ROLLBACK``); here it is one statement, the four reads
as branches of a ``UNION ALL`` told apart by their first column. One statement reads one
snapshot, so on PostgreSQL it runs outside any transaction (autocommit: no ``BEGIN`` or
``ROLLBACK``); on SQLite in the read-only (deferred) transaction of every read. Core, not the
ORM: the rows are tuples, turned into :class:`~allocator.ledger.BalanceInputs` in one pass.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CompoundSelect,
    Engine,
    String,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    select,
    union,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, Select, coercions, roles
from sqlalchemy.sql.visitors import InternalTraversal

from allocator.ledger import BalanceInputs, Flows
from allocator.model import EntryKind, project_account
from connectors.db import tables as t
from connectors.db.engine import read_only

#: The branches' tags (first column of each row).
PROJECT, POOL, FLOW, USE = "p", "o", "f", "u"
_KINDS = {k.value: k for k in EntryKind}
#: The parameters of every statement: the period, the pools asked, the member, the first pool.
PERIOD = bindparam("period", type_=String)
POOLS = bindparam("pool_ids", type_=String, expanding=True)
MEMBER = bindparam("member", type_=String)
FROM_POOL = bindparam("from_pool", type_=String)


class SqlBalanceReads:
    """:class:`allocator.ports.BalanceReads` on its own connection, one statement a call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else read_only(engine)
        )

    def __call__(
        self, period: str, pool_ids: Sequence[str] | None, member: str | None, from_pool: str = ""
    ) -> BalanceInputs:
        query = statement(pool_ids is not None, member is not None)
        params: dict[str, Any] = {"period": period, "from_pool": from_pool}
        if pool_ids is not None:
            params["pool_ids"] = list(pool_ids)
        if member is not None:
            params["member"] = member
        with self.engine.connect() as conn:
            return inputs_of(conn.execute(query, params).all())  # one fetch, not one a row


@functools.cache
def statement(some_pools: bool, some_projects: bool) -> CompoundSelect[Any]:
    """Rows ``(tag, a, b, c, d, n1, n2)``: ``(p, project)``, ``(o, pool)``, ``(f, pool, source,
    target, kind, amount)`` and ``(u, pool, project, -, -, final, provisional)``; parameters
    ``period``, ``from_pool`` (flows and consumption of the pools from it on; ``""``: every
    pool), ``pool_ids`` when ``some_pools``, ``member`` when ``some_projects``. Built once
    per shape (building and keying a statement this size costs more than running it)."""
    visible = _visible() if some_projects else None
    return union_all(
        _tagged(PROJECT, select(visible.c.id) if visible is not None else select(t.ProjectRow.id)),
        _tagged(POOL, select(t.PoolRow.id)),
        *_flows(some_pools, visible),
        _consumption(some_pools, visible),
    )


def _visible() -> Any:
    """The projects of which ``member`` is the PI or a member (``of_member``): a ``WITH``,
    read once, and a union of two look-ups, not an ``OR`` of sub-queries, so PostgreSQL expects
    a few rows and joins the ledger and the usage to them through their indexes."""
    P, M = t.ProjectRow, t.ProjectMemberRow
    return union(
        select(P.id.label("id")).where(P.pi == MEMBER),
        select(M.project_id.label("id")).where(M.username == MEMBER),
    ).cte("visible")


def inputs_of(rows: Any) -> BalanceInputs:
    projects: list[str] = []
    pools: list[str] = []
    flows: dict[str, dict[tuple[str, str, EntryKind], int]] = {}
    consumed: dict[tuple[str, str], tuple[int, int]] = {}
    for tag, a, b, c, d, n1, n2 in rows:
        if tag == FLOW:
            flows.setdefault(a, {})[(b, c, _KINDS[d])] = int(n1)
        elif tag == USE:
            consumed[(b, a)] = (int(n1), int(n2))
        elif tag == PROJECT:
            projects.append(a)
        else:
            pools.append(a)
    by_pool: dict[str, Flows] = dict(flows)
    return BalanceInputs(tuple(sorted(projects)), tuple(sorted(pools)), by_pool, consumed)


class AtLeastByCodePoint(ColumnElement[bool]):
    """``left >= right`` in Python's order of strings (by code point), whatever the database's
    collation: a page's cursor was cut in that order. PostgreSQL compares under ``COLLATE "C"``
    (UTF-8 bytes: code point order; ``en-US`` puts ``a`` before ``B``, ``_`` before ``-``);
    SQLite's default (BINARY) already is that order."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own declaration, read by its cache)
        ("left", InternalTraversal.dp_clauseelement),
        ("right", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, left: Any, right: Any) -> None:
        self.left = coercions.expect(roles.ExpressionElementRole, left)
        self.right = coercions.expect(roles.ExpressionElementRole, right)


@compiles(AtLeastByCodePoint)
def _at_least(element: AtLeastByCodePoint, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.left, **kw)} >= {compiler.process(element.right, **kw)}"


@compiles(AtLeastByCodePoint, "postgresql")
def _at_least_pg(element: AtLeastByCodePoint, compiler: Any, **kw: Any) -> str:
    left, right = compiler.process(element.left, **kw), compiler.process(element.right, **kw)
    return f'{left} COLLATE "C" >= {right}'


def _tag(tag: str) -> Any:
    return literal_column(f"'{tag}'", String)


def _text() -> Any:
    return cast(null(), String)


def _number() -> Any:
    return cast(null(), BigInteger)


def _tagged(tag: str, ids: Select[Any]) -> Select[Any]:
    """A branch of ids: ``(tag, id, NULL, ...)``; typed NULLs, so PostgreSQL can match the
    branches' column types."""
    (column,) = ids.selected_columns
    return ids.with_only_columns(_tag(tag), column, _text(), _text(), _text(), _number(), _number())


def _flows(some_pools: bool, visible: Any) -> list[Select[Any]]:
    """The flows of the period (of ``pool_ids``); with ``visible``, only those from or to the
    accounts of those projects, in two branches (from one; to one and not from one), each a
    join on an index, and no flow read twice."""
    E = t.LedgerEntryRow
    query = (
        select(
            _tag(FLOW),
            E.pool_id,
            E.source,
            E.target,
            E.kind,
            func.sum(E.amount).cast(BigInteger),  # bigint: the driver makes ints
            _number(),
        )
        .where(E.period == PERIOD, AtLeastByCodePoint(E.pool_id, FROM_POOL))
        .group_by(E.pool_id, E.source, E.target, E.kind)
    )
    if some_pools:
        query = query.where(E.pool_id.in_(POOLS))
    if visible is None:
        return [query]
    account = literal(project_account(""), String) + visible.c.id
    return [
        query.select_from(visible).join(E, E.source == account),
        query.select_from(visible)
        .join(E, E.target == account)
        .where(E.source.not_in(select(account))),
    ]


def _consumption(some_pools: bool, visible: Any) -> Select[Any]:
    """Final and provisional units of mapped accounts (``consumption.balance_consumption``)."""
    D, A = t.UsagePeriodRow, t.SlurmAccountRow
    final = func.sum(case((~D.provisional, D.units), else_=0)).cast(BigInteger)
    provisional = func.sum(case((D.provisional, D.units), else_=0)).cast(BigInteger)
    query = select(_tag(USE), D.pool_id, A.project_id, _text(), _text(), final, provisional)
    if visible is None:
        query = query.select_from(D).join(A, (A.cluster == D.cluster) & (A.account == D.account))
    else:  # the pools too: the rollup's key is (period, pool, cluster, account, ...)
        query = (
            query.select_from(visible)
            .join(A, A.project_id == visible.c.id)
            .join(D, (A.cluster == D.cluster) & (A.account == D.account))
        )
        if not some_pools:
            query = query.where(D.pool_id.in_(select(t.PoolRow.id)))
    query = query.where(D.period == PERIOD, AtLeastByCodePoint(D.pool_id, FROM_POOL))
    query = query.group_by(A.project_id, D.pool_id)
    if some_pools:
        query = query.where(D.pool_id.in_(POOLS))
    return query
