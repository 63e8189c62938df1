"""Regulation: a pool's rule as set and answered; the simulation's outlook per project."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from allocator.regulation import Destination
from connectors.http.schemas import Strict


class RuleIn(Strict):
    """``genci``: under ``threshold_percent`` used ``after_months`` into the grant, up to
    ``reclaim_percent`` reclaimed. ``tgcc``: on ``check_day`` of each month, more than
    ``late_days`` behind the linear plan, ``deduct_days``' worth deducted. The other rule's
    parameters are ignored; absent ones take the rule's defaults (5, 30, 40; 15, 60, 30)."""

    rule: Literal["genci", "tgcc"]
    destination: Destination = Field(
        default=Destination.CHAIR, description="where reclaimed hours go"
    )
    after_months: int = Field(default=5, ge=1, le=120)
    threshold_percent: int = Field(default=30, ge=1, le=100)
    reclaim_percent: int = Field(default=40, ge=1, le=100)
    check_day: int = Field(default=15, ge=1, le=31)
    late_days: int = Field(default=60, ge=1, le=3650)
    deduct_days: int = Field(default=30, ge=1, le=3650)


class RuleOut(BaseModel):
    pool_id: str
    rule: str
    destination: str
    description: str
    after_months: int | None
    threshold_percent: float | None
    reclaim_percent: float | None
    check_day: int | None
    late_days: int | None
    deduct_days: int | None


class ClawbackOut(BaseModel):
    on: datetime
    seconds: int
    hours: float
    reference: str
    explanation: str


class OutlookOut(BaseModel):
    project_id: str
    chair_id: str
    grant_seconds: int
    grant_hours: float
    consumed_seconds: int
    consumed_hours: float
    clawed_seconds: int
    clawed_hours: float
    ahead: list[ClawbackOut] = Field(description="what each check ahead would reclaim, and when")
