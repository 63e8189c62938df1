"""Endpoints of ``/api/v1``: each parses, calls one use case, shapes the reply."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from allocator import services as svc
from allocator.errors import NotFound
from allocator.model import (
    MILLI,
    Chair,
    ClusterRoute,
    GpuInventory,
    NodeShape,
    Pool,
    Project,
    Rate,
    RequestState,
    SlurmAccount,
    User,
)
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, ServicesDep, UowDep

router = APIRouter(prefix="/api/v1")
#: The shape of any period label; the use cases then accept only the site's scheme (a 422
#: naming the field, the scheme and an example), within a few years of today.
PERIOD_PATTERN = s.PERIOD_PATTERN
PERIOD_DOC = s.PERIOD_DOC
PeriodQ = Query(pattern=PERIOD_PATTERN, description=PERIOD_DOC)
OptionalPeriodQ = Query(default=None, pattern=PERIOD_PATTERN, description=PERIOD_DOC)


@router.get("/me", tags=["users"])
def me(actor: ActorDep) -> s.UserOut:
    return _user(actor)


def _user(u: User) -> s.UserOut:
    return s.UserOut(username=u.username, role=u.role, full_name=u.full_name, email=u.email)


# --- users ------------------------------------------------------------------------------


@router.get("/users", tags=["users"])
def list_users(uow: UowDep, actor: ActorDep) -> list[s.UserOut]:
    return [_user(u) for u in svc.list_users(uow, actor)]


@router.post("/users", status_code=201, tags=["users"])
def create_user(body: s.UserIn, uow: UowDep, actor: ActorDep, now: NowDep) -> s.UserOut:
    user = User(body.username, body.role, body.full_name, body.email)
    return _user(svc.create_user(uow, actor, now, user))


# --- pools ----------------------------------------------------------------------------------


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
def list_pools(uow: UowDep, actor: ActorDep) -> list[s.PoolOut]:
    return [s.PoolOut.of(p) for p in svc.list_pools(uow, actor)]


@router.post("/pools", status_code=201, tags=["pools"])
def create_pool(
    body: s.PoolIn, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> s.PoolOut:
    grant = None if body.grant_hours is None else s.to_seconds(body.grant_hours)
    pool = svc.create_pool_with_grant(uow, actor, now, pool_of(body), grant, calendar=calendar)
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
    return [s.EntryOut.of(e) for e in entries]


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
    pool_id: str, period: str, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> list[s.EntryOut]:
    entry = svc.open_period(uow, actor, now, pool_id, period, calendar=calendar)
    return [] if entry is None else [s.EntryOut.of(entry)]


@router.get("/pools/{pool_id}/balances", tags=["balances"])
def pool_balance(
    pool_id: str,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str = PeriodQ,
) -> s.PoolBalanceOut:
    balance = svc.pool_balances(uow, actor, pool_id, period, now=now, calendar=calendar)
    return s.PoolBalanceOut.of(balance)


# --- chairs and projects --------------------------------------------------------------------


@router.get("/chairs", tags=["chairs"])
def list_chairs(uow: UowDep, actor: ActorDep) -> list[s.ChairOut]:
    return [s.ChairOut.of(c) for c in svc.list_chairs(uow, actor)]


@router.post("/chairs", status_code=201, tags=["chairs"])
def create_chair(body: s.ChairIn, uow: UowDep, actor: ActorDep, now: NowDep) -> s.ChairOut:
    chair = Chair(body.id, body.name, body.institution, body.holder, body.start, body.end)
    return s.ChairOut.of(svc.create_chair(uow, actor, now, chair))


@router.get("/chairs/{chair_id}/balances", tags=["balances"])
def chair_balance(
    chair_id: str,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pool_id: str = Query(max_length=64),
    period: str = PeriodQ,
) -> s.ChairBalanceOut:
    balance = svc.chair_balances(uow, actor, chair_id, pool_id, period, now=now, calendar=calendar)
    return s.ChairBalanceOut.of(balance)


@router.get("/projects", tags=["projects"])
def list_projects(
    uow: UowDep, actor: ActorDep, chair_id: str | None = Query(default=None, max_length=64)
) -> list[s.ProjectOut]:
    return [s.ProjectOut.of(p) for p in svc.list_projects(uow, actor, chair_id)]


@router.post("/projects", status_code=201, tags=["projects"])
def create_project(body: s.ProjectIn, uow: UowDep, actor: ActorDep, now: NowDep) -> s.ProjectOut:
    project = Project(
        id=body.id,
        chair_id=body.chair_id,
        name=body.name,
        kind=body.kind,
        pi=body.pi,
        members=tuple(body.members),
        start=body.start,
        end=body.end,
        slurm_accounts=tuple(SlurmAccount(a.cluster, a.account) for a in body.slurm_accounts),
    )
    return s.ProjectOut.of(svc.create_project(uow, actor, now, project))


@router.get("/projects/{project_id}", tags=["projects"])
def get_project(project_id: str, uow: UowDep, actor: ActorDep) -> s.ProjectOut:
    with uow:
        return s.ProjectOut.of(svc.get_project(uow, project_id, actor))


@router.post("/projects/{project_id}/members", tags=["projects"])
def add_member(
    project_id: str, body: s.MemberIn, uow: UowDep, actor: ActorDep, now: NowDep
) -> s.ProjectOut:
    return s.ProjectOut.of(svc.add_member(uow, actor, now, project_id, body.username))


@router.post("/projects/{project_id}/slurm-accounts", tags=["projects"])
def map_account(
    project_id: str, body: s.SlurmAccountIn, uow: UowDep, actor: ActorDep, now: NowDep
) -> s.ProjectOut:
    mapping = SlurmAccount(body.cluster, body.account)
    return s.ProjectOut.of(svc.map_slurm_account(uow, actor, now, project_id, mapping))


@router.delete("/projects/{project_id}/slurm-accounts/{cluster}/{account}", tags=["projects"])
def unmap_account(
    project_id: str, cluster: str, account: str, uow: UowDep, actor: ActorDep, now: NowDep
) -> s.ProjectOut:
    mapping = SlurmAccount(cluster, account)
    return s.ProjectOut.of(svc.unmap_slurm_account(uow, actor, now, project_id, mapping))


@router.get("/projects/{project_id}/balances", tags=["balances"])
def project_balances(
    project_id: str,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str = PeriodQ,
    pool_id: str | None = Query(default=None, max_length=64),
) -> list[s.ProjectBalanceOut]:
    rows = svc.project_balances_in(
        uow,
        actor,
        project_id,
        period,
        None if pool_id is None else [pool_id],
        services.consumption.within(uow),
        now=now,
        calendar=calendar,
    )
    return [s.ProjectBalanceOut.of(b) for b in rows]


@router.get("/balances", tags=["balances"])
def balances(
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    period: str = PeriodQ,
    pool_id: str | None = Query(default=None, max_length=64),
    include_empty: bool = False,
) -> list[s.ProjectBalanceOut]:
    """Project balances of every project the caller may see, for one period."""
    rows = svc.visible_balances(
        uow,
        actor,
        period,
        None if pool_id is None else [pool_id],
        services.consumption.within(uow),
        include_empty,
        now=now,
        calendar=calendar,
    )
    return [s.ProjectBalanceOut.of(b) for b in rows]


# --- moving hours ------------------------------------------------------------------------------


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


# --- requests -----------------------------------------------------------------------------------


@router.get("/requests", tags=["requests"])
def list_requests(
    uow: UowDep, actor: ActorDep, state: RequestState | None = None
) -> list[s.RequestOut]:
    return [s.RequestOut.of(r) for r in svc.list_requests(uow, actor, state)]


@router.post("/requests", status_code=201, tags=["requests"])
def submit_request(
    body: s.RequestIn, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> s.RequestOut:
    amounts = [(p.period, s.to_seconds(p.hours)) for p in body.periods]
    request = svc.submit_request(
        uow,
        actor,
        now,
        body.project_id,
        body.pool_id,
        amounts,
        body.justification,
        body.gpu_type,
        calendar=calendar,
    )
    return s.RequestOut.of(request)


@router.get("/requests/{request_id}", tags=["requests"])
def get_request(request_id: int, uow: UowDep, actor: ActorDep) -> s.RequestOut:
    _check_id(request_id)
    with uow:
        return s.RequestOut.of(svc.get_request(uow, request_id, actor))


@router.post("/requests/{request_id}/comments", tags=["requests"])
def comment(
    request_id: int, body: s.CommentIn, uow: UowDep, actor: ActorDep, now: NowDep
) -> s.RequestOut:
    _check_id(request_id)
    return s.RequestOut.of(svc.comment_request(uow, actor, now, request_id, body.text))


@router.post("/requests/{request_id}/approve", tags=["requests"])
def approve(
    request_id: int,
    body: s.ApproveIn,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
) -> s.RequestOut:
    _check_id(request_id)
    granted = None
    if body.granted is not None:
        granted = [(g.period, s.to_seconds(g.hours)) for g in body.granted]
    request = svc.approve_request(
        uow, actor, now, request_id, granted, body.reason, calendar=calendar
    )
    return s.RequestOut.of(request)


@router.post("/requests/{request_id}/reject", tags=["requests"])
def reject(
    request_id: int, body: s.ReasonIn, uow: UowDep, actor: ActorDep, now: NowDep
) -> s.RequestOut:
    _check_id(request_id)
    return s.RequestOut.of(svc.reject_request(uow, actor, now, request_id, body.reason))


@router.post("/requests/{request_id}/withdraw", tags=["requests"])
def withdraw(
    request_id: int, body: s.OptionalReasonIn, uow: UowDep, actor: ActorDep, now: NowDep
) -> s.RequestOut:
    _check_id(request_id)
    return s.RequestOut.of(svc.withdraw_request(uow, actor, now, request_id, body.reason))


def _check_id(request_id: int) -> None:
    if not 0 < request_id < 2**31:
        raise NotFound("request", request_id, field="request_id")
