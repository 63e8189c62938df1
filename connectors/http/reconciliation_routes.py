"""Reconciliation over HTTP: our consumption against the latest statement, the jobs behind a
line, and the decisions (accept a difference, or adjust the project)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, WithJsonSchema

from accounting import services as acc
from accounting.ports import JobCharge
from accounting.reconcile import Line, Tolerance
from allocator.hours import Sign
from allocator.model import Role
from allocator.rules import require_role
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, UowDep
from connectors.http.pages import Page, PageQ, paged
from connectors.http.params import PeriodQ
from connectors.http.quarter_params import PoolQ
from connectors.http.statement_routes import StatementOut
from connectors.presenters import quarter as present
from connectors.values import decision_amount

router = APIRouter(prefix="/api/v1")


class ToleranceOut(BaseModel):
    seconds: int
    percent: float


class ReconciliationLineOut(BaseModel):
    project_id: str = Field(description='"" = Slurm accounts no project is mapped to')
    basis: str = Field(description="units (pool unit-seconds) or gpu_seconds")
    ours: int
    theirs: int | None
    difference: int = Field(description="ours - theirs")
    relative_percent: float
    raw_status: str
    status: str
    adjustments: int
    statement_lines: list[int]
    ours_hours: float
    theirs_hours: float | None
    difference_hours: float
    adjustments_hours: float

    @classmethod
    def of(cls, ln: Line) -> ReconciliationLineOut:
        return cls.model_validate(present.reconciliation_line(ln))


class ReconciliationOut(BaseModel):
    pool_id: str
    period: str
    statement: StatementOut | None
    tolerance: ToleranceOut
    lines: list[ReconciliationLineOut]

    @classmethod
    def of(cls, r: acc.Reconciliation) -> ReconciliationOut:
        return cls.model_validate(present.reconciliation(r))


class JobOut(BaseModel):
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
    def of(cls, j: JobCharge) -> JobOut:
        return cls.model_validate(present.job(j))


_ZERO_HOURS = {
    "anyOf": [{"type": "number", "const": 0}, {"type": "string", "pattern": r"^0(\.0{1,3})?$"}]
}


class DecisionIn(s.Strict):
    model_config = s.rules(
        s.when("action", "accept", {"properties": {"hours": _ZERO_HOURS}}),
        s.when(
            "action",
            "adjust",
            {"required": ["hours"], "properties": {"hours": s.hours_json_schema(Sign.SIGNED)}},
        ),
    )

    pool_id: s.Slug
    period: s.PeriodLabel
    project_id: str = Field(max_length=64, description='the line\'s project ("" = unmapped)')
    action: Literal["accept", "adjust"]
    hours: Annotated[
        s.SignedHours,
        WithJsonSchema({"anyOf": [s.hours_json_schema(Sign.SIGNED), _ZERO_HOURS]}),
    ] = Field(
        default=Decimal(0),
        description="adjust: signed hours of the pool's unit, not zero (negative debits the"
        " project); accept: 0 or left out",
    )
    reason: str = Field(min_length=1, max_length=2000, pattern=s.NOT_BLANK)


# --- reconciliation -------------------------------------------------------------------------

_DEFAULT = Tolerance()


@router.get("/reconciliation")
def reconciliation(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pool_id: str = PoolQ,
    period: str = PeriodQ,
    tolerance_seconds: int = Query(default=_DEFAULT.absolute, ge=0, le=10**12),
    tolerance_percent: Decimal = s.decimal(
        1, 0, 100, make=Query, default=Decimal(_DEFAULT.relative_milli) / 10
    ),
) -> ReconciliationOut:
    """Our consumption against the latest statement, per project: a line matches within
    ``max(tolerance_seconds, tolerance_percent of the larger figure)``."""
    tolerance = Tolerance(tolerance_seconds, int(tolerance_percent * 10))
    rec = acc.reconcile(uow, actor, pool_id, period, tolerance, now=now, calendar=calendar)
    return ReconciliationOut.of(rec)


@router.get("/reconciliation/jobs")
def reconciliation_jobs(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pages: PageQ,
    pool_id: str = PoolQ,
    period: str = PeriodQ,
    project_id: str = Query(default="", max_length=64, description='"" = unmapped accounts'),
) -> Page[JobOut]:
    """The jobs whose charges make up a reconciliation line, by cluster, job id and submit
    time (at most the first :data:`JOBS_READ` of a line are paged through)."""
    jobs = acc.jobs_behind(
        uow, actor, pool_id, period, project_id, JOBS_READ, now=now, calendar=calendar
    )
    return paged("jobs", jobs, lambda j: (j.cluster, j.job_id, j.submit), pages, JobOut.of)


#: The jobs of one line read for its pages.
JOBS_READ = 100_000


@router.post("/reconciliation/decisions")
def decide(
    body: DecisionIn, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> ReconciliationOut:
    """Accept a line's difference, or post a signed adjustment; both journaled with the reason.
    Answers the updated reconciliation."""
    require_role(actor, Role.ADMIN)
    amount = decision_amount(body.action, body.hours)
    rec = acc.decide(
        uow,
        actor,
        now,
        body.pool_id,
        body.period,
        body.project_id,
        body.action,
        amount,
        body.reason,
        calendar=calendar,
    )
    return ReconciliationOut.of(rec)
