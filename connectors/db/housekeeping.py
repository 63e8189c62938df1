"""The housekeeping's reads and writes in SQL (``accounting.ports.HousekeepingStore``): the
rollups checked against the charges journal, and the audit log's memory of reminders."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.orm import Session

from accounting.ports import RollupKey, RollupSums
from connectors.db import burn_windows
from connectors.db import tables as t
from connectors.db.usage_store import PERIOD_KEY, ROLLUP_KEY

C, D, P = t.ChargeRow, t.UsageDailyRow, t.UsagePeriodRow


def _journal_sums(
    conn: Connection, names: Sequence[str], *where: Any
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """``charges`` summed by the columns ``names``: (GPU-seconds, units, rows) per key."""
    key = [getattr(C, name) for name in names]
    query = select(*key, func.sum(C.gpu_seconds), func.sum(C.units), func.count())
    return {
        tuple(r[:-3]): (int(r[-3]), int(r[-2]), int(r[-1]))
        for r in conn.execute(query.where(*where).group_by(*key))
    }


def _rows(
    names: Sequence[str], sums: Mapping[tuple[Any, ...], tuple[int, int, int]]
) -> list[dict[str, Any]]:
    return [
        {**dict(zip(names, k, strict=True)), "gpu_seconds": v[0], "units": v[1], "rows": v[2]}
        for k, v in sums.items()
    ]


class SqlHousekeeping:
    def __init__(self, session: Session) -> None:
        self.session = session

    def journal_days(self, since_day: int) -> dict[RollupKey, RollupSums]:
        return _journal_sums(self.session.connection(), ROLLUP_KEY, C.day >= since_day)

    def rollup_days(self, since_day: int) -> dict[RollupKey, RollupSums]:
        columns = [getattr(D, n) for n in ROLLUP_KEY]
        query = select(*columns, D.gpu_seconds, D.units, D.rows).where(D.day >= since_day)
        return {
            tuple(r[:-3]): (r[-3], r[-2], r[-1]) for r in self.session.connection().execute(query)
        }

    def replace_days(
        self, keys: Collection[RollupKey], sums: Mapping[RollupKey, RollupSums]
    ) -> None:
        conn = self.session.connection()
        for k in keys:
            conn.execute(
                delete(D).where(*[getattr(D, n) == v for n, v in zip(ROLLUP_KEY, k, strict=True)])
            )
        if sums:
            conn.execute(insert(D), _rows(ROLLUP_KEY, sums))
        if keys:
            burn_windows.clear(conn)  # summed again from the repaired days

    def rebuild_period(self, period: str) -> None:
        conn = self.session.connection()
        conn.execute(delete(P).where(P.period == period))
        sums = _journal_sums(conn, PERIOD_KEY, C.period == period)
        if sums:
            conn.execute(insert(P), _rows(PERIOD_KEY, sums))
        burn_windows.clear(conn)  # the period's units summed again

    def prune(self) -> None:
        conn = self.session.connection()
        conn.execute(delete(D).where(D.gpu_seconds == 0, D.units == 0, D.rows == 0))
        conn.execute(delete(P).where(P.gpu_seconds == 0, P.units == 0, P.rows == 0))

    def said(self, action: str, subject: str, since: datetime | None = None) -> bool:
        A = t.AuditEventRow
        query = select(A.id).where(A.action == action, A.subject == subject)
        if since is not None:
            query = query.where(A.at >= since)
        return self.session.scalar(query.limit(1)) is not None
