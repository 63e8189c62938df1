"""Burn rates over HTTP: hours per day over 7 and 30 days, and projected exhaustion."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from accounting import services as acc
from connectors.http.deps import ActorDep, CalendarDep, NowDep, UowDep
from connectors.http.params import CurrentPeriodQ
from connectors.http.quarter_params import OptionalPoolQ
from connectors.presenters import quarter as present

router = APIRouter(prefix="/api/v1")


class BurnOut(BaseModel):
    project_id: str
    pool_id: str
    period: str
    allocated_seconds: int
    adjustments_seconds: int
    consumed_seconds: int
    remaining_seconds: int
    allocated_hours: float
    consumed_hours: float
    remaining_hours: float
    burn_rate_7d_hours_per_day: float
    burn_rate_30d_hours_per_day: float
    projected_exhaustion: datetime | None

    @classmethod
    def of(cls, p: acc.ProjectBurn) -> BurnOut:
        return cls.model_validate(present.burn(p))


@router.get("/burn")
def burn(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str | None = CurrentPeriodQ,
    pool_id: str | None = OptionalPoolQ,
) -> list[BurnOut]:
    """Burn rates over 7 and 30 days (hours of the pool's unit per day) and the projected
    exhaustion of each project's remaining hours, for a period (default: the current one) in
    every pool (or in ``pool_id``); researchers see their projects only."""
    rows = acc.burn_rates(uow, actor, now, period, pool_id, calendar=calendar)
    return [BurnOut.of(r) for r in rows]
