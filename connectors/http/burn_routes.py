"""Burn rates over HTTP (hours per day over 7 and 30 days, projected exhaustion) and the jobs
charged to projects: what everyone may read of usage, researchers for their projects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from accounting import services as acc
from accounting.burn import Outlook
from connectors.http.deps import ActorDep, CalendarDep, NowDep, UnitsDep, UowDep
from connectors.http.pages import Page, PageQ, paged
from connectors.http.params import CurrentPeriodQ
from connectors.http.quarter_params import OptionalPoolQ
from connectors.http.schemas import UNIT_DOC
from connectors.presenters import quarter as present

router = APIRouter(prefix="/api/v1")


class BurnOut(BaseModel):
    project_id: str
    pool_id: str
    unit: str = Field(description=UNIT_DOC)
    period: str
    allocated_seconds: int
    adjustments_seconds: int
    consumed_seconds: int
    remaining_seconds: int
    allocated_hours: float
    adjustments_hours: float
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
    def of(cls, p: acc.ProjectBurn, units: Mapping[str, str]) -> BurnOut:
        return cls.model_validate(present.burn(p, units.get(p.balance.pool_id, "")))


@router.get("/burn")
def burn(
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    pages: PageQ,
    period: str | None = CurrentPeriodQ,
    pool_id: str | None = OptionalPoolQ,
) -> Page[BurnOut]:
    """Burn rates over 7 and 30 days (hours of the pool's unit per day) and whether each
    project's remaining hours run out before the period's end (and when: a date only then;
    "not before period end" otherwise), for a period (default: the current one) in every pool
    (or in ``pool_id``); researchers see their projects only."""
    rows = acc.burn_rates(uow, actor, now, period, pool_id, calendar=calendar)
    return paged("burn", rows, _pool_project, pages, lambda p: BurnOut.of(p, units))


def _pool_project(p: acc.ProjectBurn) -> tuple[str, str]:
    return (p.balance.pool_id, p.balance.project_id)


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
    pages: PageQ,
    period: str | None = CurrentPeriodQ,
    project_id: str | None = Query(
        default=None,
        max_length=64,
        description="the project; absent: a researcher's own projects. Engineers and admins"
        " name one: absent, their request is a 422 naming project_id",
    ),
    pool_id: str | None = OptionalPoolQ,
) -> Page[ProjectJobOut]:
    """The jobs charged in a period (default: the current one) to a project, per pool: a
    researcher's own projects when no ``project_id`` is given ("my jobs"); staff name the
    project."""
    rows = acc.project_jobs(
        uow, actor, period, project_id, pool_id, JOBS_READ, now=now, calendar=calendar
    )
    return paged("jobs-of-projects", rows, _job_key, pages, ProjectJobOut.of)


#: The jobs read for the pages of ``/jobs``.
JOBS_READ = 100_000


def _job_key(pj: acc.ProjectJob) -> tuple[str, str, str, int, int]:
    return (pj.project_id, pj.pool_id, pj.job.cluster, pj.job.job_id, pj.job.submit)
