"""``/api/v1/pools/{pool_id}/regulation``: a pool's regulation rule (GENCI, TGCC). Staff read
it and simulate it; admins set or remove it and apply it (the clawbacks due now, posted once,
journaled ``clawback:...``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from allocator import services as svc
from allocator.errors import NotFound
from allocator.regulation import LinearPlanRule, Regulation, Rule, UnderuseRule
from connectors.http import regulation_schemas as rs
from connectors.http import schemas as s
from connectors.http.deps import (
    ActorDep,
    CalendarDep,
    NowDep,
    ServicesDep,
    UnitsDep,
    UowDep,
)
from connectors.http.pages import Page, PageQ, paged
from connectors.presenters import regulation as present

router = APIRouter(prefix="/api/v1", tags=["regulation"])
PoolId = Annotated[str, Path(min_length=1, max_length=64, description="the pool's id")]


@router.get("/regulations")
def list_regulations(uow: UowDep, actor: ActorDep, pages: PageQ) -> Page[rs.RuleOut]:
    """Every regulated pool's rule (staff), by pool."""
    rows = svc.list_regulations(uow, actor)
    return paged(
        "regulations",
        rows,
        lambda r: (r.pool_id,),
        pages,
        lambda r: rs.RuleOut.model_validate(present.rule(r)),
    )


@router.get("/pools/{pool_id}/regulation")
def get_regulation(pool_id: PoolId, uow: UowDep, actor: ActorDep) -> rs.RuleOut:
    """The pool's rule (staff); 404 when the pool has none."""
    for r in svc.list_regulations(uow, actor):
        if r.pool_id == pool_id:
            return rs.RuleOut.model_validate(present.rule(r))
    raise NotFound("regulation", pool_id, field="pool_id")


@router.put("/pools/{pool_id}/regulation")
def set_regulation(
    pool_id: PoolId, body: rs.RuleIn, uow: UowDep, actor: ActorDep, now: NowDep
) -> rs.RuleOut:
    """Set the pool's rule (admin), replacing the one set. The pool needs a validity window."""
    rule: Rule = (
        UnderuseRule(body.after_months, body.threshold_percent * 10, body.reclaim_percent * 10)
        if body.rule == "genci"
        else LinearPlanRule(body.check_day, body.late_days, body.deduct_days)
    )
    regulated = svc.set_regulation(uow, actor, now, Regulation(pool_id, rule, body.destination))
    return rs.RuleOut.model_validate(present.rule(regulated))


@router.delete("/pools/{pool_id}/regulation", status_code=204)
def remove_regulation(pool_id: PoolId, uow: UowDep, actor: ActorDep, now: NowDep) -> Response:
    """The pool is no longer regulated (admin); the clawbacks posted stay in the journal."""
    svc.remove_regulation(uow, actor, now, pool_id)
    return Response(status_code=204)


@router.get("/pools/{pool_id}/regulation/simulation")
def simulate_regulation(
    pool_id: PoolId,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pages: PageQ,
) -> Page[rs.OutlookOut]:
    """What each project would lose and when, at its burn rate so far (staff): a check due and
    not yet applied first, then each check ahead. Nothing is written."""
    found = svc.simulate_regulation(
        uow, actor, now, pool_id, services.consumption.within(uow), calendar=calendar
    )
    return paged(
        "regulation-simulation",
        found,
        lambda o: (o.standing.grant.project_id,),
        pages,
        lambda o: rs.OutlookOut.model_validate(present.outlook(o)),
    )


@router.post("/pools/{pool_id}/regulation/apply")
def apply_regulation(
    pool_id: PoolId,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
) -> list[s.EntryOut]:
    """Post the clawbacks due now (admin), each once, in the current period; applied again,
    nothing more is posted (an empty list)."""
    entries = svc.apply_regulation(
        uow, actor, now, pool_id, services.consumption.within(uow), calendar=calendar
    )
    return [s.EntryOut.of(e, units) for e in entries]
