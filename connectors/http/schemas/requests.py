"""Allocation requests: submission, comments, decisions; the request as answered."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from allocator.hours import Sign
from allocator.model import AllocationRequest
from connectors.http.schemas.values import (
    NOT_BLANK,
    UNIT_DOC,
    Hours,
    HoursOrZero,
    PeriodLabel,
    Slug,
    Strict,
    hours_json_schema,
)
from connectors.presenters import allocation as present


class PeriodHoursIn(Strict):
    period: PeriodLabel
    hours: Hours


class RequestIn(Strict):
    project_id: Slug
    pool_id: Slug
    periods: list[PeriodHoursIn] = Field(min_length=1, max_length=16)
    justification: str = Field(min_length=1, max_length=10_000, pattern=NOT_BLANK)
    gpu_type: Slug | None = None


def _grants_something(schema: dict[str, Any]) -> None:
    """``granted``, when a list: some period's hours are not zero."""
    for option in schema.get("anyOf", []):
        if option.get("type") == "array":
            hours = hours_json_schema(Sign.POSITIVE)
            option["contains"] = {"properties": {"hours": hours}, "required": ["hours"]}


class GrantedIn(Strict):
    period: PeriodLabel
    hours: HoursOrZero


class ApproveIn(Strict):
    granted: list[GrantedIn] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="hours granted per period requested, at most those asked; some not zero"
        " (granting nothing is a rejection); null: all as requested",
        json_schema_extra=_grants_something,
    )
    reason: str = Field(default="", max_length=2000)


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)


class OptionalReasonIn(Strict):
    reason: str = Field(default="", max_length=2000)


class CommentIn(Strict):
    text: str = Field(min_length=1, max_length=10_000, pattern=NOT_BLANK)


class CommentOut(BaseModel):
    author: str
    at: datetime
    text: str


class RequestLineOut(BaseModel):
    period: str
    requested_seconds: int
    requested_hours: float
    granted_seconds: int
    granted_hours: float


class RequestOut(BaseModel):
    id: int
    project_id: str
    pool_id: str
    unit: str = Field(description=UNIT_DOC)
    gpu_type: str | None
    requester: str
    justification: str
    state: str
    created_at: datetime
    lines: list[RequestLineOut]
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str
    comments: list[CommentOut]

    @classmethod
    def of(cls, r: AllocationRequest, units: Mapping[str, str]) -> RequestOut:
        return cls.model_validate(present.request(r, units.get(r.pool_id, "")))
