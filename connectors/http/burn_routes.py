"""Burn rates over HTTP (hours per day over 7 and 30 days, projected exhaustion) and the jobs
charged to projects: what everyone may read of usage, researchers for their projects."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from accounting import services as acc
from accounting.burn import Outlook
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
    projected_exhaustion: datetime | None = Field(
        description="when the remaining hours run out at the 7-day burn rate, given only when "
        "that falls before the end of the period (exhaustion_outlook before_period_end); "
        "null otherwise: a date past the period's end would name another period's day"
    )
    exhausts_before_period_end: bool = Field(
        description="the balance runs out before the period's end at the 7-day burn rate "
        "(before_period_end), or already has (exhausted)"
    )
    exhaustion_outlook: Outlook = Field(
        description="before_period_end: runs out at projected_exhaustion; "
        "not_before_period_end: at this pace it lasts the period out (also when nothing is "
        "burnt or the period has ended); exhausted: nothing of the allocation remains; "
        "no_allocation: nothing was allocated"
    )

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
    """Burn rates over 7 and 30 days (hours of the pool's unit per day) and whether each
    project's remaining hours run out before the period's end (and when: a date only then;
    "not before period end" otherwise), for a period (default: the current one) in every pool
    (or in ``pool_id``); researchers see their projects only."""
    rows = acc.burn_rates(uow, actor, now, period, pool_id, calendar=calendar)
    return [BurnOut.of(r) for r in rows]


class ProjectJobOut(BaseModel):
    project_id: str
    pool_id: str
    cluster: str
    job_id: int
    submit: datetime
    account: str
    gpu_seconds: int
    units: int
    units_hours: float
    provisional: bool
    late: bool

    @classmethod
    def of(cls, pj: acc.ProjectJob) -> ProjectJobOut:
        return cls.model_validate(present.project_job(pj))


@router.get("/jobs")
def list_jobs(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str | None = CurrentPeriodQ,
    project_id: str | None = Query(default=None, max_length=64),
    pool_id: str | None = OptionalPoolQ,
    limit: int = Query(default=1000, ge=1, le=10_000),
) -> list[ProjectJobOut]:
    """The jobs charged in a period (default: the current one) to a project, per pool: a
    researcher's own projects when no ``project_id`` is given ("my jobs"); staff name the
    project."""
    rows = acc.project_jobs(
        uow, actor, period, project_id, pool_id, limit, now=now, calendar=calendar
    )
    return [ProjectJobOut.of(r) for r in rows]
