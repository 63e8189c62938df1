"""Allocation requests, their lines (per period) and their comments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allocator.model import AllocationRequest, Comment, RequestLine, RequestState
from connectors.db import tables as t


class SqlRequests:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, request_id: int) -> AllocationRequest | None:
        row = self.session.get(t.RequestRow, request_id)
        return None if row is None else self._load([row])[0]

    def _load(self, rows: Sequence[t.RequestRow]) -> list[AllocationRequest]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        lines: dict[int, list[RequestLine]] = defaultdict(list)
        for ln in self.session.scalars(
            select(t.RequestLineRow)
            .where(t.RequestLineRow.request_id.in_(ids))
            .order_by(t.RequestLineRow.request_id, t.RequestLineRow.period)
        ):
            lines[ln.request_id].append(RequestLine(ln.period, ln.requested, ln.granted))
        comments: dict[int, list[Comment]] = defaultdict(list)
        for c in self.session.scalars(
            select(t.RequestCommentRow)
            .where(t.RequestCommentRow.request_id.in_(ids))
            .order_by(t.RequestCommentRow.id)
        ):
            comments[c.request_id].append(Comment(c.author, c.at, c.text))
        return [
            AllocationRequest(
                id=r.id,
                project_id=r.project_id,
                pool_id=r.pool_id,
                requester=r.requester,
                justification=r.justification,
                created_at=r.created_at,
                lines=tuple(lines[r.id]),
                gpu_type=r.gpu_type,
                state=RequestState(r.state),
                decided_by=r.decided_by,
                decided_at=r.decided_at,
                decision_reason=r.decision_reason,
                comments=tuple(comments[r.id]),
            )
            for r in rows
        ]

    def add(self, request: AllocationRequest) -> AllocationRequest:
        row = t.RequestRow(
            project_id=request.project_id,
            pool_id=request.pool_id,
            requester=request.requester,
            justification=request.justification,
            created_at=request.created_at,
            gpu_type=request.gpu_type,
            state=request.state.value,
        )
        self.session.add(row)
        self.session.flush()
        stored = AllocationRequest(
            row.id,
            request.project_id,
            request.pool_id,
            request.requester,
            request.justification,
            request.created_at,
            request.lines,
            request.gpu_type,
        )
        self.session.add_all(
            t.RequestLineRow(
                request_id=row.id, period=ln.period, requested=ln.requested, granted=ln.granted
            )
            for ln in request.lines
        )
        self.session.flush()
        return stored

    def update(self, request: AllocationRequest) -> None:
        s = self.session
        row = s.get(t.RequestRow, request.id)
        assert row is not None
        row.state, row.decided_by = request.state.value, request.decided_by
        row.decided_at, row.decision_reason = request.decided_at, request.decision_reason
        for ln in request.lines:
            line_row = s.get(t.RequestLineRow, (request.id, ln.period))
            assert line_row is not None
            line_row.granted = ln.granted
        stored = (
            s.scalar(
                select(func.count())
                .select_from(t.RequestCommentRow)
                .where(t.RequestCommentRow.request_id == request.id)
            )
            or 0
        )
        s.add_all(
            t.RequestCommentRow(request_id=request.id, author=c.author, at=c.at, text=c.text)
            for c in request.comments[stored:]
        )
        s.flush()

    def list(
        self, project_ids: Sequence[str] | None = None, state: RequestState | None = None
    ) -> Sequence[AllocationRequest]:
        query = select(t.RequestRow).order_by(t.RequestRow.id)
        if project_ids is not None:
            query = query.where(t.RequestRow.project_id.in_(project_ids))
        if state is not None:
            query = query.where(t.RequestRow.state == state.value)
        return self._load(list(self.session.scalars(query)))
