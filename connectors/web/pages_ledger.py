"""The books, for engineers and administrators: the journal (every move of hours, newest first,
filtered by pool, period and account, 50 a page read as such), the audit trail (every other
change, by subject) and a period's allocation table (pool → chair → project, with the
headroom left at each level)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from accounting import report as rpt
from accounting import services as acc
from allocator import rules
from allocator import services as svc
from allocator.errors import InvalidInput, NotFound
from allocator.model import Role, User
from allocator.ports import Newest
from connectors.web.pages_projects import period_asked, periods_around
from connectors.web.render import page
from connectors.web.visit import Visit, visit_of

router = APIRouter()
STAFF = (Role.ADMIN, Role.ENGINEER)
SHOWN = 50


def _older(rows: list[Any]) -> int | None:
    """The cursor of the next (older) page: the id of this page's last row, if more exist."""
    return rows[SHOWN - 1].id if len(rows) > SHOWN else None


def _journal(visit: Visit, user: User, filters: dict[str, str], before: int | None) -> Any:
    services = visit.services
    calendar, now = services.settings.calendar, services.clock()
    try:
        entries = svc.journal(
            services.uow(read_only=True), user,
            filters["pool"] or None, filters["period"] or None, filters["account"] or None,
            now=now, calendar=calendar, window=Newest(SHOWN + 1, before),
        )  # fmt: skip
    except InvalidInput:
        raise NotFound("period", filters["period"]) from None
    return {
        "entries": list(entries)[:SHOWN],
        "older": _older(list(entries)),
        "pools": svc.list_pools(services.uow(read_only=True), user),
        "periods": [p.label for p in periods_around(calendar, now)],
        "filters": filters,
        "units": services.pool_units,
    }


@router.get("/journal")
async def journal(
    request: Request, pool: str = "", period: str = "", account: str = "", before: int = 0
) -> Response:
    visit = await visit_of(request)
    filters = {"pool": pool, "period": period, "account": account.strip()}
    found = await run_in_threadpool(_journal, visit, visit.user, filters, before or None)
    _ = visit.speaker.gettext
    return page(visit, "journal.html", title=_("Journal"), **found)


def _audit(visit: Visit, user: User, subject: str, before: int | None) -> Any:
    events = svc.audit_trail(
        visit.services.uow(read_only=True), user, subject or None, Newest(SHOWN + 1, before)
    )
    return {"events": events[:SHOWN], "older": _older(events), "subject": subject}


@router.get("/audit")
async def audit(request: Request, subject: str = "", before: int = 0) -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_audit, visit, visit.user, subject.strip(), before or None)
    _ = visit.speaker.gettext
    return page(visit, "audit.html", title=_("Audit trail"), **found)


def _allocations(visit: Visit, user: User, period: str, pool: str, chair: str) -> Any:
    rules.require_role(user, *STAFF)
    services = visit.services
    calendar, now = services.settings.calendar, services.clock()
    label = period_asked(visit, period)
    found = acc.report(services.uow(read_only=True), user, label, now=now, calendar=calendar)
    tree = allocation_tree(found)
    branch = next((b for b in tree if b["pool"].pool == pool), tree[0] if tree else None)
    if pool and (branch is None or branch["pool"].pool != pool):
        raise NotFound("pool", pool)
    opened = None
    if branch is not None and chair:
        opened = next((c for c in branch["chairs"] if c["chair"].chair == chair), None)
        if opened is None:
            raise NotFound("chair", chair)
    return {
        "period": label,
        "periods": [p.label for p in periods_around(calendar, now)],
        "pools": [b["pool"] for b in tree],
        "branch": branch,
        "opened": opened,
    }


def allocation_tree(found: rpt.Report) -> list[dict[str, Any]]:
    """Per pool: its capacity, what it allocated to chairs, its headroom; per chair: what it
    received, gave its projects, has left; per project: allocated, consumed, remaining."""
    tree: list[dict[str, Any]] = []
    for pool in found.pools():
        chairs = [r for r in found.rows if r.pool == pool.pool and r.level == "chair"]
        projects = [r for r in found.rows if r.pool == pool.pool and r.level == "project"]
        branches = []
        for chair in chairs:
            mine = [p for p in projects if p.chair == chair.chair and p.project]
            given = sum(p.allocated for p in mine)
            branches.append({"chair": chair, "given": given, "left": chair.allocated - given,
                             "projects": mine})  # fmt: skip
        tree.append({"pool": pool, "left": pool.capacity - pool.allocated, "chairs": branches})
    return tree


@router.get("/allocations")
async def allocations(
    request: Request, period: str = "", pool: str = "", chair: str = ""
) -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_allocations, visit, visit.user, period, pool, chair)
    _ = visit.speaker.gettext
    return page(visit, "allocations.html", title=_("Allocations"), **found)
