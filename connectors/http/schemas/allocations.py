"""Moving hours: allocations, transfers, adjustments; the journal's entries and project balances."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from fastapi import Response
from pydantic import BaseModel, Field
from pydantic_core import to_json

from allocator.ledger import ProjectBalance
from allocator.model import AuditEvent, LedgerEntry
from connectors.http.schemas.values import (
    NOT_BLANK,
    UNIT_DOC,
    Hours,
    PeriodLabel,
    SignedHours,
    Slug,
    Strict,
)
from connectors.presenters import allocation as present


class ChairAllocationIn(Strict):
    pool_id: Slug
    chair_id: Slug
    period: PeriodLabel
    hours: Hours
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)


class ProjectAllocationIn(Strict):
    pool_id: Slug
    project_id: Slug
    period: PeriodLabel
    hours: Hours
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)
    draw_from_pool: bool = False


class TransferIn(Strict):
    pool_id: Slug
    period: PeriodLabel
    from_project: Slug
    to_project: Slug
    hours: Hours
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)


class AdjustmentIn(Strict):
    pool_id: Slug
    project_id: Slug
    period: PeriodLabel
    hours: SignedHours
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)


class EntryOut(BaseModel):
    id: int | None
    kind: str
    pool_id: str
    unit: str = Field(description=UNIT_DOC)
    period: str
    source: str
    target: str
    amount_seconds: int
    amount_hours: float
    actor: str
    at: datetime
    reason: str
    request_id: int | None
    reference: str

    @classmethod
    def of(cls, e: LedgerEntry, units: Mapping[str, str]) -> EntryOut:
        return cls.model_validate(present.entry(e, units.get(e.pool_id, "")))


class ProjectAllocationOut(EntryOut):
    """An allocation to a project, and the pool -> chair draw it needed (if any)."""

    drawn_from_pool: EntryOut | None = Field(
        description="with draw_from_pool: the entry that drew the chair's shortfall from the pool"
    )


class AuditEventOut(BaseModel):
    id: int | None
    actor: str
    at: datetime
    action: str
    subject: str
    detail: str

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventOut:
        return cls.model_validate(present.audit_event(e))


class ProjectBalanceOut(BaseModel):
    project_id: str
    pool_id: str
    unit: str = Field(description=UNIT_DOC)
    period: str
    allocated_seconds: int
    adjustments_seconds: int
    consumed_seconds: int
    consumed_provisional_seconds: int
    remaining_seconds: int
    allocated_hours: float
    adjustments_hours: float
    consumed_hours: float
    consumed_provisional_hours: float
    remaining_hours: float
    utilisation: float

    @classmethod
    def of(cls, b: ProjectBalance, units: Mapping[str, str]) -> ProjectBalanceOut:
        return cls.model_validate(present.project_balance(b, units.get(b.pool_id, "")))

    @classmethod
    def json_page(
        cls, rows: Iterable[ProjectBalance], cursor: str | None, units: Mapping[str, str]
    ) -> Response:
        """A page of ``ProjectBalanceOut`` as JSON, without a model per row and their
        validation (``GET /balances`` may list thousands): the presenter's dicts have the
        model's fields in its order, and pydantic's serializer writes the same bytes from them
        (``tests/api/test_balance_reads.py``)."""
        items = [present.project_balance(b, units.get(b.pool_id, "")) for b in rows]
        return Response(to_json({"items": items, "next": cursor}), media_type="application/json")
