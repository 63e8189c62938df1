"""Closed periods and the organisation as the report reads it: ``accounting.ports``'
``PeriodCloses`` and ``Organisation`` inside a unit of work's session."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounting.ports import PeriodClose
from connectors.db import tables as t


class SqlPeriodCloses:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, period: str) -> PeriodClose | None:
        row = self.session.get(t.PeriodCloseRow, period)
        if row is None:
            return None
        return PeriodClose(row.period, row.closed_at, row.closed_by, row.reason, row.report_json)

    def add(self, close: PeriodClose) -> None:
        self.session.add(
            t.PeriodCloseRow(
                period=close.period,
                closed_at=close.closed_at,
                closed_by=close.closed_by,
                reason=close.reason,
                report_json=close.report_json,
            )
        )


class SqlOrganisation:
    def __init__(self, session: Session) -> None:
        self.session = session

    def chair_ids(self) -> set[str]:
        return set(self.session.scalars(select(t.ChairRow.id)))

    def project_chairs(self) -> dict[str, str]:
        return dict(
            self.session.execute(select(t.ProjectRow.id, t.ProjectRow.chair_id)).tuples().all()
        )
