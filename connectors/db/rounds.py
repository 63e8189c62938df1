"""Allocation rounds: the round row and its children, read and written as one aggregate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from allocator.round_model import AllocationRound, RoundEdit, RoundLine, RoundMinimum
from connectors.db import round_tables as r

_CHILDREN: tuple[Any, ...] = (
    r.RoundWeightRow,
    r.RoundMinimumRow,
    r.RoundEditRow,
    r.RoundLineRow,
)


class SqlRounds:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, allocation_round: AllocationRound) -> AllocationRound:
        a = allocation_round
        row = r.RoundRow(
            period=a.period,
            deadline=a.deadline,
            state="open",
            opened_by=a.opened_by,
            opened_at=a.opened_at,
        )
        self.session.add(row)
        self.session.flush()
        self.session.add_all(r.RoundPoolRow(round_id=row.id, pool_id=p) for p in a.pool_ids)
        self.session.flush()
        stored = self.get(row.id)
        assert stored is not None
        return stored

    def get(self, round_id: int, *, lock: bool = False) -> AllocationRound | None:
        query = select(r.RoundRow).where(r.RoundRow.id == round_id)
        if lock:
            query = query.with_for_update()
        row = self.session.scalars(query).one_or_none()
        return None if row is None else self._load(row, children=True)

    def list(self) -> Sequence[AllocationRound]:
        rows = self.session.scalars(select(r.RoundRow).order_by(r.RoundRow.id.desc()))
        return [self._load(row, children=False) for row in rows]

    def _load(self, row: r.RoundRow, *, children: bool) -> AllocationRound:
        s, rid = self.session, row.id
        pools = s.scalars(
            select(r.RoundPoolRow.pool_id)
            .where(r.RoundPoolRow.round_id == rid)
            .order_by(r.RoundPoolRow.pool_id)
        )
        base = AllocationRound(
            rid,
            row.period,
            tuple(pools),
            row.deadline,
            row.opened_by,
            row.opened_at,
            row.state == "approved",
            row.decided_by,
            row.decided_at,
        )
        if not children:
            return base
        return replace(
            base,
            weights=tuple(
                (w.chair_id, w.weight) for w in self._children(r.RoundWeightRow, rid, "chair_id")
            ),
            minimums=tuple(
                RoundMinimum(m.request_id, m.amount, m.reason)
                for m in self._children(r.RoundMinimumRow, rid, "request_id")
            ),
            edits=tuple(
                RoundEdit(e.request_id, e.amount, e.reason, e.actor, e.at)
                for e in self._children(r.RoundEditRow, rid, "request_id")
            ),
            lines=tuple(
                RoundLine(x.request_id, x.amount, x.basis, x.explanation, x.edited)
                for x in self._children(r.RoundLineRow, rid, "request_id")
            ),
        )

    def _children(self, table: Any, round_id: int, order: str) -> Sequence[Any]:
        return list(
            self.session.scalars(
                select(table).where(table.round_id == round_id).order_by(getattr(table, order))
            )
        )

    def update(self, allocation_round: AllocationRound) -> None:
        a, s = allocation_round, self.session
        row = s.get(r.RoundRow, a.id)
        assert row is not None
        row.state = "approved" if a.approved else "open"
        row.decided_by, row.decided_at = a.decided_by, a.decided_at
        for table in _CHILDREN:
            s.execute(delete(table).where(table.round_id == a.id))
        s.add_all(r.RoundWeightRow(round_id=a.id, chair_id=c, weight=w) for c, w in a.weights)
        s.add_all(
            r.RoundMinimumRow(
                round_id=a.id, request_id=m.request_id, amount=m.amount, reason=m.reason
            )
            for m in a.minimums
        )
        s.add_all(
            r.RoundEditRow(
                round_id=a.id,
                request_id=e.request_id,
                amount=e.amount,
                reason=e.reason,
                actor=e.actor,
                at=e.at,
            )
            for e in a.edits
        )
        s.add_all(
            r.RoundLineRow(
                round_id=a.id,
                request_id=x.request_id,
                amount=x.amount,
                basis=x.basis,
                explanation=x.explanation,
                edited=x.edited,
            )
            for x in a.lines
        )
        s.flush()
