"""Moving hours (``/allocations``, ``/transfers``, ``/adjustments``); ``/journal``, ``/audit``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from allocator import services as svc
from allocator.model import AuditEvent, LedgerEntry
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, UnitsDep, UowDep
from connectors.http.pages import Page, PageQ, newest_window, windowed
from connectors.http.params import OptionalPeriodQ

router = APIRouter(prefix="/api/v1")


@router.post("/allocations/chairs", status_code=201, tags=["allocations"])
def allocate_chair(
    body: s.ChairAllocationIn,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    response: Response,
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
    return _located(entry, units, response)


@router.post("/allocations/projects", status_code=201, tags=["allocations"])
def allocate_project(
    body: s.ProjectAllocationIn,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    response: Response,
) -> s.ProjectAllocationOut:
    """Allocate hours chair -> project: answers the allocation's journal entry; with
    ``draw_from_pool``, a chair's shortfall drawn pool -> chair first is in
    ``drawn_from_pool``."""
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
    *drawn, allocation = entries
    out = _located(allocation, units, response).model_dump()
    draw = s.EntryOut.of(drawn[0], units) if drawn else None
    return s.ProjectAllocationOut(**out, drawn_from_pool=draw)


@router.post("/transfers", status_code=201, tags=["allocations"])
def transfer(
    body: s.TransferIn,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    response: Response,
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
    return _located(entry, units, response)


@router.post("/adjustments", status_code=201, tags=["allocations"])
def adjust(
    body: s.AdjustmentIn,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    response: Response,
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
    return _located(entry, units, response)


@router.get("/journal", tags=["allocations"])
def journal(
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    pages: PageQ,
    pool_id: str | None = Query(default=None, max_length=64),
    period: str | None = OptionalPeriodQ,
    account: str | None = Query(default=None, max_length=100),
    request_id: int | None = Query(default=None, ge=1, le=2**31),
) -> Page[s.EntryOut]:
    """Ledger entries, newest first, of every period (or ``period``), filtered."""
    window = newest_window("journal", pages)
    entries = svc.journal(
        uow, actor, pool_id, period, account, request_id, now=now, calendar=calendar, window=window
    )
    return windowed("journal", entries, _by_id, pages, lambda x: s.EntryOut.of(x, units))


@router.get("/journal/{entry_id}", tags=["allocations"])
def journal_entry(
    entry_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
) -> s.EntryOut:
    """One ledger entry: where every create that moves hours says it is (``Location``)."""
    return s.EntryOut.of(svc.journal_entry(uow, actor, entry_id), units)


def _located(entry: LedgerEntry, units: Mapping[str, str], response: Response) -> s.EntryOut:
    """The entry written, its address in ``Location``."""
    response.headers["Location"] = f"/api/v1/journal/{entry.id}"
    return s.EntryOut.of(entry, units)


def _by_id(e: LedgerEntry | AuditEvent) -> tuple[int]:
    return (e.id or 0,)


@router.get("/audit", tags=["allocations"])
def audit(
    uow: UowDep,
    actor: ActorDep,
    pages: PageQ,
    subject: str | None = Query(default=None, max_length=200),
) -> Page[s.AuditEventOut]:
    """Audit events (of one subject, ``pool:nat``), newest first."""
    events = svc.audit_trail(uow, actor, subject, newest_window("audit", pages))
    return windowed("audit", events, _by_id, pages, s.AuditEventOut.of)
