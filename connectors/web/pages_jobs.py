"""The jobs behind a project's consumption: the top jobs of each pool, the use by Slurm user
and by GPU type, and every job as CSV (``/projects/<id>/jobs.csv?period=``)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from accounting import services as acc
from accounting.report import spreadsheet_safe
from allocator import services as svc
from allocator.errors import InvalidInput, NotFound
from allocator.hours import in_hours
from allocator.model import User
from connectors.web.pages_projects import periods_around
from connectors.web.render import NO_STORE, page
from connectors.web.visit import Visit, visit_of

router = APIRouter()
COLUMNS = (
    "pool",
    "unit",
    "cluster",
    "job_id",
    "user",
    "gpu_types",
    "gpu_hours",
    "pool_hours",
    "running",
)


def _jobs(visit: Visit, user: User, project_id: str, period: str) -> dict[str, Any]:
    services = visit.services
    calendar, now = services.settings.calendar, services.clock()
    uow = services.uow(read_only=True)
    try:
        with uow:
            project = svc.get_project(uow, project_id, user)
            pools = acc.job_breakdown(uow, user, project.id, period, now=now, calendar=calendar)
    except InvalidInput as exc:
        if exc.field != "period":
            raise
        raise NotFound("period", period) from None
    return {"project": project, "pools": pools}


def _period(visit: Visit, period: str) -> str:
    return period or visit.services.settings.calendar.containing(visit.services.clock()).label


@router.get("/projects/{project_id}/jobs")
async def jobs(request: Request, project_id: str, period: str = "") -> Response:
    visit = await visit_of(request)
    label = _period(visit, period)
    found = await run_in_threadpool(_jobs, visit, visit.user, project_id, label)
    calendar, now = visit.services.settings.calendar, visit.services.clock()
    _ = visit.speaker.gettext
    return page(
        visit,
        "jobs.html",
        title=_("Jobs of %(project)s") % {"project": found["project"].name},
        period=label,
        periods=[p.label for p in periods_around(calendar, now)],
        **found,
    )


def to_csv(pools: list[acc.PoolJobs]) -> str:
    """Every job, one line each; hours to the millihour; every cell spreadsheet-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for pool_jobs in pools:
        pool = pool_jobs.pool
        for job in pool_jobs.jobs:
            row = (
                pool.id,
                pool.unit,
                job.cluster,
                job.job_id,
                job.user,
                " ".join(job.gpu_types),
                in_hours(job.gpu_seconds),
                in_hours(job.units),
                "yes" if job.running else "no",
            )
            writer.writerow([spreadsheet_safe(cell) for cell in row])
    return out.getvalue()


@router.get("/projects/{project_id}/jobs.csv")
async def jobs_csv(request: Request, project_id: str, period: str = "") -> Response:
    visit = await visit_of(request)
    label = _period(visit, period)
    found = await run_in_threadpool(_jobs, visit, visit.user, project_id, label)
    name = f"jobs-{found['project'].id}-{label}.csv"
    headers = NO_STORE | {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(to_csv(found["pools"]), media_type="text/csv; charset=utf-8", headers=headers)
