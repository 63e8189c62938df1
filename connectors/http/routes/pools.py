"""``/pools``: a pool's definition, grants, rates, over-commit, periods and balance."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Response

from allocator import services as svc
from allocator.model import (
    MILLI,
    ClusterRoute,
    GpuInventory,
    NodeShape,
    Pool,
    Rate,
)
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, UnitsDep, UowDep
from connectors.http.pages import Page, PageQ, paged
from connectors.http.params import CurrentPeriodQ, PeriodPathByTheCore

router = APIRouter(prefix="/api/v1")


def pool_of(body: s.PoolIn) -> Pool:
    return Pool(
        id=body.id,
        name=body.name,
        kind=body.kind,
        unit=body.unit,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        inventory=tuple(GpuInventory(i.gpu_type, i.count) for i in body.inventory),
        availability_milli=s.to_milli(body.availability),
        overcommit_milli=s.to_milli(body.overcommit),
        billing_mode=body.billing_mode,
        close_policy=body.close_policy,
        carryover_cap_milli=s.to_milli(body.carryover_cap),
        routes=tuple(ClusterRoute(r.cluster, r.partition, r.gpu_type) for r in body.routes),
        node_shapes=tuple(
            (n.partition, NodeShape(n.gpus, n.cpus, n.mem_mb)) for n in body.node_shapes
        ),
        rates=tuple(Rate(r.gpu_type, s.to_milli(r.rate), r.effective_from) for r in body.rates),
        description=body.description,
    )


@router.get("/pools", tags=["pools"])
def list_pools(uow: UowDep, actor: ActorDep, pages: PageQ) -> Page[s.PoolOut]:
    """Every pool, by id."""
    return paged("pools", svc.list_pools(uow, actor), lambda p: (p.id,), pages, s.PoolOut.of)


@router.post("/pools", status_code=201, tags=["pools"])
def create_pool(
    body: s.PoolIn,
    response: Response,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
) -> s.PoolOut:
    grant = None if body.grant_hours is None else s.to_seconds(body.grant_hours)
    pool = svc.create_pool_with_grant(uow, actor, now, pool_of(body), grant, calendar=calendar)
    response.headers["Location"] = f"/api/v1/pools/{quote(pool.id)}"
    return s.PoolOut.of(pool)


@router.get("/pools/{pool_id}", tags=["pools"])
def get_pool(pool_id: str, uow: UowDep, actor: ActorDep) -> s.PoolOut:
    with uow:
        return s.PoolOut.of(svc.get_pool(uow, pool_id))


@router.post("/pools/{pool_id}/grants", status_code=201, tags=["pools"])
def add_grant(
    pool_id: str,
    body: s.GrantIn,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
) -> list[s.EntryOut]:
    """Deposit a grant, split pro rata over the site's periods of its window (default: the
    pool's validity). A window that covers a closed period is refused (409, ``start``)."""
    entries = svc.add_grant(
        uow,
        actor,
        now,
        pool_id,
        s.to_seconds(body.hours),
        body.reason,
        body.start,
        body.end,
        calendar=calendar,
    )
    return [s.EntryOut.of(e, units) for e in entries]


@router.post("/pools/{pool_id}/rates", status_code=201, tags=["pools"])
def add_rate(pool_id: str, body: s.RateIn, uow: UowDep, actor: ActorDep, now: NowDep) -> s.PoolOut:
    rate = Rate(body.gpu_type, s.to_milli(body.rate), body.effective_from)
    return s.PoolOut.of(svc.set_rate(uow, actor, now, pool_id, rate))


@router.post("/pools/{pool_id}/overcommit", tags=["pools"])
def set_overcommit(
    pool_id: str, body: s.OvercommitIn, uow: UowDep, actor: ActorDep, now: NowDep
) -> s.PoolOut:
    factor = int(body.factor * MILLI)
    return s.PoolOut.of(svc.set_overcommit(uow, actor, now, pool_id, factor, body.reason))


@router.post("/pools/{pool_id}/periods/{period}/open", tags=["pools"])
def open_period(
    pool_id: str,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str = PeriodPathByTheCore,
) -> list[s.EntryOut]:
    entry = svc.open_period(uow, actor, now, pool_id, period, calendar=calendar)
    return [] if entry is None else [s.EntryOut.of(entry, units)]


@router.get("/pools/{pool_id}/balances", tags=["balances"])
def pool_balance(
    pool_id: str,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str | None = CurrentPeriodQ,
) -> s.PoolBalanceOut:
    """A pool's balance for a period (default: the current one)."""
    balance = svc.pool_balances(uow, actor, pool_id, period, now=now, calendar=calendar)
    return s.PoolBalanceOut.of(balance, units)
