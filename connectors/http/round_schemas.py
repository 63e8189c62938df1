"""Allocation rounds' bodies: opening, weights, a minimum, a line's edit, the approval; the
round as answered."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from allocator.services.rounds import MAX_WEIGHT
from connectors.http.schemas import NOT_BLANK, HoursOrZero, PeriodLabel, Slug, Strict
from connectors.http.schemas.values import UtcDatetime

REQUEST_ID = Field(ge=1, le=2**31 - 1, description="a pending request of the round")


class RoundIn(Strict):
    period: PeriodLabel
    pool_ids: list[Slug] = Field(
        min_length=1,
        max_length=32,
        description="the pools the round divides, each once",
        json_schema_extra={"uniqueItems": True},
    )
    deadline: UtcDatetime = Field(description="requests submitted before it join the round")


class WeightIn(Strict):
    chair_id: Slug
    weight: int = Field(ge=1, le=MAX_WEIGHT)


class WeightsIn(Strict):
    weights: list[WeightIn] = Field(
        max_length=1000,
        description="each chair once; a chair absent weighs 1; replaces the weights set",
    )


class MinimumIn(Strict):
    request_id: int = REQUEST_ID
    hours: HoursOrZero = Field(description="at most the hours asked; 0 removes the minimum")
    reason: str = Field(
        min_length=1,
        max_length=2000,
        pattern=NOT_BLANK,
        description="why (thesis); for 0, why the minimum is removed",
    )


class LineEditIn(Strict):
    hours: HoursOrZero = Field(description="at most the hours the request asks")
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)


class RoundApproveIn(Strict):
    reason: str = Field(default="", max_length=2000)


class WeightOut(BaseModel):
    chair_id: str
    weight: int


class MinimumOut(BaseModel):
    request_id: int
    seconds: int
    hours: float
    reason: str


class RoundOut(BaseModel):
    id: int
    period: str
    pool_ids: list[str]
    deadline: datetime
    state: str = Field(description="open (before the deadline), closed (after it), approved")
    opened_by: str
    opened_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reference: str = Field(description="what every allocation of the round carries: round:N")
    weights: list[WeightOut]
    minimums: list[MinimumOut]


class RoundRequestOut(BaseModel):
    id: int
    project_id: str
    pool_id: str
    gpu_type: str | None
    requested_seconds: int
    requested_hours: float


class DemandOut(BaseModel):
    pool_id: str
    gpu_type: str = Field(
        description='"": the pool\'s total, every GPU type (its headroom, which caps all its'
        " requests together; requests without a GPU type take from it alone); a type: that"
        " type's supply, its capacity in the period less what is approved for it"
    )
    chair_id: str = Field(description='"": every chair')
    requested_seconds: int
    requested_hours: float
    minimums_seconds: int
    minimums_hours: float
    available_seconds: int
    available_hours: float


class LineOut(BaseModel):
    request_id: int
    project_id: str
    seconds: int
    hours: float
    basis: str = Field(
        description="request, minimum, share, minimums_cut, supply, no_supply or edited"
    )
    explanation: str
    edited: bool


class RoundViewOut(RoundOut):
    requests: list[RoundRequestOut]
    demand: list[DemandOut] | None = Field(
        description="asked against available per pool, GPU type and chair; null before the"
        " deadline but for admins"
    )
    lines: list[LineOut] | None = Field(
        description="the proposal (edits applied) or, once approved, the lines approved"
    )
