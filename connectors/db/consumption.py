"""Consumption read model: what projects consumed, from the period rollup (``usage_period``).

The rollup is changed in the same transaction as the charges it sums (``SqlUsageStore``), so
these reads are never stale. A Slurm account belongs to the project it is mapped to
(``slurm_accounts``) at read time; usage of unmapped accounts is reported as such, never lost.
Late rows (usage of a closed period, booked in the next open one) count as final consumption
of the period they are booked in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, select

from connectors.db import tables as t

D = t.UsagePeriodRow
A = t.SlurmAccountRow


@dataclass(frozen=True, slots=True)
class Consumed:
    """Consumption of one project (``""`` = unmapped accounts) in one pool and period."""

    final: int = 0
    provisional: int = 0
    late: int = 0
    gpu_seconds: int = 0
    unpriced_gpu_seconds: int = 0


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
        query = (
            select(*_sums())
            .select_from(D)
            .join(A, _joined())
            .where(D.period == period, D.pool_id == pool_id, A.project_id == project_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return int(row[0] or 0), int(row[1] or 0)

    def within(self, uow: Any) -> Callable[[str, str, str], tuple[int, int]]:
        """A ``consumed`` for use inside ``uow``'s transaction (one connection: SQLite allows
        one writer, and a second connection would wait for the first). The first call for a
        period reads the whole period in one query; later calls in the same unit of work are
        dictionary lookups."""
        cache: dict[str, dict[tuple[str, str], Consumed]] = {}

        def consumed(project_id: str, pool_id: str, period: str) -> tuple[int, int]:
            if period not in cache:
                cache[period] = by_project_on(uow.session.connection(), period, None)
            c = cache[period].get((project_id, pool_id), Consumed())
            return c.final, c.provisional

        return consumed

    def by_project(
        self, period: str, pool_ids: Iterable[str] | None = None
    ) -> dict[tuple[str, str], Consumed]:
        """``(project_id, pool_id) -> Consumed`` for a period, in one query; unmapped
        accounts are summed under project ``""``."""
        return consumption_by_project(self.engine, period, pool_ids)


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
