"""Researchers' pages: my projects, a project's hours pool by pool (with its burn chart), a
chair. Staff see every project; a researcher only hers, and anything else is "not found"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from accounting import services as acc
from allocator import services as svc
from allocator.errors import InvalidInput, NotFound
from allocator.model import MILLI, Pool, User
from allocator.periods import Calendar, Period
from connectors.web import chart
from connectors.web.render import page
from connectors.web.visit import Visit, visit_of

router = APIRouter()
PAGE_SIZE = 50


def periods_around(calendar: Calendar, now: Any, back: int = 4, ahead: int = 2) -> list[Period]:
    """The periods a person picks from: a few back, the current one, a few ahead."""
    current = calendar.containing(now)
    out = [current]
    for _ in range(back):
        out.insert(0, calendar.previous(out[0]))
    for _ in range(ahead):
        out.append(calendar.next(out[-1]))
    return out


def period_asked(visit: Visit, period: str) -> str:
    """The period a page asks for (``""``: the current one); a label this site does not count
    is "not found", as any unknown thing in a page's address."""
    calendar, now = visit.services.settings.calendar, visit.services.clock()
    try:
        return calendar.check_or_current(period or None, now).label
    except InvalidInput:
        raise NotFound("period", period) from None


def _projects(visit: Visit, user: User) -> tuple[list[Any], dict[str, Any]]:
    uow = visit.services.uow(read_only=True)
    projects = svc.list_projects(uow, user)
    chairs = {c.id: c for c in svc.list_chairs(uow, user)}
    return projects, chairs


@router.get("/projects")
async def projects(request: Request, page_number: int = Query(1, alias="page")) -> Response:
    visit = await visit_of(request)
    user = visit.user
    found, chairs = await run_in_threadpool(_projects, visit, user)
    pages = max(1, -(-len(found) // PAGE_SIZE))
    number = min(max(page_number, 1), pages)
    shown = found[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    _ = visit.speaker.gettext
    return page(
        visit,
        "projects.html",
        title=_("My projects") if not visit.is_staff else _("Projects"),
        projects=shown,
        chairs=chairs,
        page_number=number,
        pages=pages,
        total=len(found),
    )


def _project_page(visit: Visit, user: User, project_id: str, period: str) -> dict[str, Any]:
    services = visit.services
    calendar, now = services.settings.calendar, services.clock()
    uow = services.uow(read_only=True)
    with uow:
        project = svc.get_project(uow, project_id, user)
        chairs = {c.id: c for c in svc.list_chairs(uow, user)}
        use = acc.project_usage(uow, user, project.id, period, now=now, calendar=calendar)
    pools = []
    for n, pool_use in enumerate(use.pools):
        series = chart.series(pool_use, use.period, now, calendar)
        unit = pool_use.pool.unit
        pools.append(
            {
                "use": pool_use,
                "rates": rates_of(pool_use.pool, now),
                "chart": chart.svg(series, visit.speaker, unit, f"chart-{n}", calendar),
                "summary": chart.summary(series, visit.speaker, unit),
            }
        )
    return {"project": project, "chair": chairs.get(project.chair_id), "use": use, "pools": pools}


def rates_of(pool: Pool, now: Any) -> list[tuple[str, float]]:
    """``(GPU type, pool units per GPU-hour)`` in force now."""
    out = []
    for gpu_type in pool.gpu_types():
        rate = pool.rate_at(gpu_type, now)
        if rate is not None:
            out.append((gpu_type, rate / MILLI))
    return out


@router.get("/projects/{project_id}")
async def project(request: Request, project_id: str, period: str = "") -> Response:
    visit = await visit_of(request)
    user = visit.user
    services = visit.services
    calendar, now = services.settings.calendar, services.clock()
    label = period or calendar.containing(now).label
    try:
        found = await run_in_threadpool(_project_page, visit, user, project_id, label)
    except InvalidInput as exc:
        if exc.field != "period":
            raise
        raise NotFound("period", label) from None
    _ = visit.speaker.gettext
    return page(
        visit,
        "project.html",
        title=found["project"].name,
        period=label,
        periods=[p.label for p in periods_around(calendar, now)],
        **found,
    )


def _chair_page(visit: Visit, user: User, chair_id: str) -> dict[str, Any]:
    uow = visit.services.uow(read_only=True)
    chairs = {c.id: c for c in svc.list_chairs(uow, user)}
    if chair_id not in chairs:
        raise NotFound("chair", chair_id, field="chair_id")
    return {"chair": chairs[chair_id], "projects": svc.list_projects(uow, user, chair_id)}


@router.get("/chairs/{chair_id}")
async def chair(request: Request, chair_id: str) -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_chair_page, visit, visit.user, chair_id)
    return page(visit, "chair.html", title=found["chair"].name, **found)
