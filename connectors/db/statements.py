"""Statements and reconciliation decisions in SQL: ``accounting.ports.StatementStore`` and
``DecisionStore``, inside a unit of work's session."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from accounting.ports import DecisionRecord, StatementAmount, StatementInfo
from accounting.reconcile import Decision
from accounting.statements import Statement
from connectors.db import tables as t

S = t.StatementRow
L = t.StatementLineRow
R = t.ReconciliationDecisionRow


def _info(row: t.StatementRow, created: bool = False) -> StatementInfo:
    return StatementInfo(
        row.id,
        row.pool_id,
        row.period,
        row.format,
        row.origin,
        row.file_name,
        row.sha256,
        row.lines,
        row.imported_by,
        row.imported_at,
        created,
    )


class SqlStatements:
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, pool_id: str, period: str, sha256: str) -> StatementInfo | None:
        row = self.session.scalars(
            select(S).where(S.pool_id == pool_id, S.period == period, S.sha256 == sha256)
        ).first()
        return None if row is None else _info(row)

    def add(
        self,
        pool_id: str,
        period: str,
        statement: Statement,
        imported_by: str,
        at: datetime,
    ) -> StatementInfo:
        row = S(
            pool_id=pool_id,
            period=period,
            format=statement.format,
            origin=statement.origin[:300],
            file_name=statement.file_name[:255],
            sha256=statement.sha256,
            lines=len(statement.lines),
            imported_by=imported_by,
            imported_at=at,
        )
        self.session.add(row)
        self.session.flush()
        if statement.lines:
            self.session.execute(
                insert(L),
                [
                    {
                        "statement_id": row.id,
                        "line": line.line,
                        "cluster": line.cluster,
                        "account": line.account,
                        "user": line.user,
                        "gpu_type": line.gpu_type,
                        "gpu_seconds": line.gpu_seconds,
                        "units": line.units,
                    }
                    for line in statement.lines
                ],
            )
        return _info(row, created=True)

    def list(self, pool_id: str | None, period: str | None) -> Sequence[StatementInfo]:
        query = select(S).order_by(S.id)
        if pool_id is not None:
            query = query.where(S.pool_id == pool_id)
        if period is not None:
            query = query.where(S.period == period)
        return [_info(r) for r in self.session.scalars(query)]

    def latest(self, period: str, pool_ids: Sequence[str]) -> Mapping[str, StatementInfo]:
        latest = (
            select(func.max(S.id))
            .where(S.pool_id.in_(list(pool_ids)), S.period == period)
            .group_by(S.pool_id)
        )
        return {
            row.pool_id: _info(row)
            for row in self.session.scalars(select(S).where(S.id.in_(latest)))
        }

    def amounts(self, statement_ids: Collection[int]) -> Sequence[StatementAmount]:
        return [
            StatementAmount(*row)
            for row in self.session.execute(
                select(L.statement_id, L.line, L.cluster, L.account, L.units, L.gpu_seconds)
                .where(L.statement_id.in_(list(statement_ids)))
                .order_by(L.statement_id, L.line)
            )
        ]


class SqlDecisions:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of(self, period: str, pool_ids: Sequence[str]) -> dict[str, list[Decision]]:
        out: dict[str, list[Decision]] = {pool_id: [] for pool_id in pool_ids}
        for r in self.session.scalars(
            select(R).where(R.pool_id.in_(list(pool_ids)), R.period == period).order_by(R.id)
        ):
            out[r.pool_id].append(Decision(r.project_id, r.action, r.amount, r.ours, r.theirs))
        return out

    def add(self, decision: DecisionRecord) -> None:
        d = decision
        self.session.add(
            R(
                pool_id=d.pool_id,
                period=d.period,
                project_id=d.project_id,
                action=d.action,
                amount=d.amount,
                ours=d.ours,
                theirs=d.theirs,
                statement_id=d.statement_id,
                ledger_entry_id=d.ledger_entry_id,
                reason=d.reason,
                actor=d.actor,
                at=d.at,
            )
        )
