"""Moving hours (``/allocations``, ``/transfers``, ``/adjustments``); ``/journal``, ``/audit``."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from allocator import services as svc
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, UowDep
from connectors.http.params import OptionalPeriodQ

router = APIRouter(prefix="/api/v1")


@router.post("/allocations/chairs", status_code=201, tags=["allocations"])
def allocate_chair(
    body: s.ChairAllocationIn, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> s.EntryOut:
    entry = svc.allocate_to_chair(
        uow,
        actor,
        now,
        body.pool_id,
        body.chair_id,
        body.period,
        s.to_seconds(body.hours),
        body.reason,
        calendar=calendar,
    )
    return s.EntryOut.of(entry)


@router.post("/allocations/projects", status_code=201, tags=["allocations"])
def allocate_project(
    body: s.ProjectAllocationIn, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> list[s.EntryOut]:
    entries = svc.allocate_to_project(
        uow,
        actor,
        now,
        body.pool_id,
        body.project_id,
        body.period,
        s.to_seconds(body.hours),
        body.reason,
        body.draw_from_pool,
        calendar=calendar,
    )
    return [s.EntryOut.of(e) for e in entries]


@router.post("/transfers", status_code=201, tags=["allocations"])
def transfer(
    body: s.TransferIn, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> s.EntryOut:
    entry = svc.transfer(
        uow,
        actor,
        now,
        body.pool_id,
        body.period,
        body.from_project,
        body.to_project,
        s.to_seconds(body.hours),
        body.reason,
        calendar=calendar,
    )
    return s.EntryOut.of(entry)


@router.post("/adjustments", status_code=201, tags=["allocations"])
def adjust(
    body: s.AdjustmentIn, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> s.EntryOut:
    seconds = s.to_seconds(abs(body.hours)) * (1 if body.hours >= 0 else -1)
    entry = svc.adjust(
        uow,
        actor,
        now,
        body.pool_id,
        body.project_id,
        body.period,
        seconds,
        body.reason,
        calendar=calendar,
    )
    return s.EntryOut.of(entry)


@router.get("/journal", tags=["allocations"])
def journal(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pool_id: str | None = Query(default=None, max_length=64),
    period: str | None = OptionalPeriodQ,
    account: str | None = Query(default=None, max_length=100),
    request_id: int | None = Query(default=None, ge=1, le=2**31),
) -> list[s.EntryOut]:
    entries = svc.journal(
        uow, actor, pool_id, period, account, request_id, now=now, calendar=calendar
    )
    return [s.EntryOut.of(e) for e in entries]


@router.get("/audit", tags=["allocations"])
def audit(
    uow: UowDep, actor: ActorDep, subject: str | None = Query(default=None, max_length=200)
) -> list[dict[str, str | datetime | int | None]]:
    return [
        {
            "id": e.id,
            "actor": e.actor,
            "at": e.at,
            "action": e.action,
            "subject": e.subject,
            "detail": e.detail,
        }
        for e in svc.audit_trail(uow, actor, subject)
    ]
