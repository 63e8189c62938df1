"""Reports and the close over HTTP: a period's report (JSON, CSV, HTML), its close, its state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from accounting import report as rpt
from accounting import services as acc
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, ServicesDep, UowDep
from connectors.http.quarter_params import PeriodPath
from connectors.http.report_schemas import ReportOut
from connectors.presenters import reports as present_report

router = APIRouter(prefix="/api/v1")


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"


class CloseIn(s.Strict):
    reason: str = Field(min_length=1, max_length=2000, pattern=s.NOT_BLANK)
    force: bool = Field(default=False, description="close despite unresolved reconciliation")


class PeriodOut(BaseModel):
    period: str
    start: datetime
    end: datetime
    closed: bool
    closed_at: datetime | None
    closed_by: str | None


def render(report: rpt.Report, fmt: ReportFormat) -> Response:
    """The report in ``fmt``, with a ``Content-Disposition`` naming a file of that format
    (``presenters.reports``): ``curl -OJ`` saves each format under its own name."""
    text, media_type, disposition = present_report.rendered(report, fmt.value)
    return Response(text, media_type=media_type, headers={"Content-Disposition": disposition})


_DISPOSITION = {
    "Content-Disposition": {
        "description": "the file name of this format: gpuhours-<period>.json, .csv or .html "
        "(attachment for CSV, inline for JSON and HTML)",
        "schema": {"type": "string"},
        "example": 'attachment; filename="gpuhours-2026Q4.csv"',
    }
}

_TEXT = {"schema": {"type": "string"}}

_REPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report, in every format stating whether the period is open or "
        "closed (a closed period's is the one signed off at close)",
        "model": ReportOut,
        "content": {"text/csv": _TEXT, "text/html": _TEXT},
        "headers": _DISPOSITION,
    }
}


@router.get("/reports/{period}", response_class=Response, responses=_REPORT)
def report(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str = PeriodPath,
    fmt: ReportFormat = Query(default=ReportFormat.JSON, alias="format"),
) -> Response:
    """Per pool, chair and project: allocated, consumed, remaining, statement, status."""
    return render(acc.report(uow, actor, period, now=now, calendar=calendar), fmt)


@router.post(
    "/periods/{period}/close",
    response_class=Response,
    responses={
        200: {"description": "the signed report", "model": ReportOut, "headers": _DISPOSITION}
    },
)
def close_period(
    body: CloseIn,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str = PeriodPath,
) -> Response:
    """Close an ended period: the pools' close policies are applied, the report is signed off,
    and the period's figures never change again (late usage is booked in the next period).
    Writes racing the close either land before it (and are in the signed report) or are
    refused with a 409."""
    signed = acc.close_period(
        uow,
        actor,
        now,
        period,
        body.reason,
        body.force,
        calendar=calendar,
        clock=services.clock,
    )
    return render(signed, ReportFormat.JSON)


@router.get("/periods/{period}")
def period_state(
    uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep, period: str = PeriodPath
) -> PeriodOut:
    p = acc.period_state(uow, period, now=now, calendar=calendar)
    return PeriodOut(
        period=p.period,
        start=p.start,
        end=p.end,
        closed=p.closed,
        closed_at=p.closed_at,
        closed_by=p.closed_by,
    )
