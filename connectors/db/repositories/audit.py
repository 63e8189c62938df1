"""The audit trail: every change that is not an amount."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from allocator.model import AuditEvent
from allocator.ports import Newest
from connectors.db import tables as t
from connectors.db.windows import newest


class SqlAudit:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, event: AuditEvent) -> None:
        self.session.add(
            t.AuditEventRow(
                actor=event.actor,
                at=event.at,
                action=event.action,
                subject=event.subject,
                detail=event.detail,
            )
        )
        self.session.flush()

    def list(
        self, subject: str | None = None, window: Newest | None = None
    ) -> Sequence[AuditEvent]:
        A = t.AuditEventRow
        query = select(A).order_by(A.id) if window is None else newest(select(A), A.id, window)
        if subject is not None:
            query = query.where(t.AuditEventRow.subject == subject)
        return [
            AuditEvent(r.actor, r.at, r.action, r.subject, r.detail, r.id)
            for r in self.session.scalars(query)
        ]
