"""``/chairs`` and ``/projects`` (members, Slurm accounts), and the balances of both."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from allocator import services as svc
from allocator.ledger import ProjectBalance
from allocator.model import Chair, Project, SlurmAccount
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, ServicesDep, UnitsDep, UowDep
from connectors.http.pages import Page, PageQ, after_names, cut, paged
from connectors.http.params import CurrentPeriodQ

router = APIRouter(prefix="/api/v1")


@router.get("/chairs", tags=["chairs"])
def list_chairs(uow: UowDep, actor: ActorDep, pages: PageQ) -> Page[s.ChairOut]:
    """The chairs the caller may see, by id."""
    return paged("chairs", svc.list_chairs(uow, actor), lambda c: (c.id,), pages, s.ChairOut.of)


@router.post("/chairs", status_code=201, tags=["chairs"])
def create_chair(
    body: s.ChairIn, uow: UowDep, actor: ActorDep, now: NowDep, response: Response
) -> s.ChairOut:
    chair = Chair(body.id, body.name, body.institution, body.holder, body.start, body.end)
    created = svc.create_chair(uow, actor, now, chair)
    response.headers["Location"] = f"/api/v1/chairs/{quote(created.id)}"
    return s.ChairOut.of(created)


@router.get("/chairs/{chair_id}", tags=["chairs"])
def get_chair(chair_id: str, uow: UowDep, actor: ActorDep) -> s.ChairOut:
    """One chair the caller may see."""
    return s.ChairOut.of(svc.chair(uow, actor, chair_id))


@router.get("/chairs/{chair_id}/balances", tags=["balances"])
def chair_balance(
    chair_id: str,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    pages: PageQ,
    pool_id: str | None = Query(default=None, max_length=64, description="default: every pool"),
    period: str | None = CurrentPeriodQ,
) -> Page[s.ChairBalanceOut]:
    """A chair's balance in each pool (or in ``pool_id``) for a period (default: the current
    one), by pool."""
    rows = svc.chair_balances(uow, actor, chair_id, pool_id, period, now=now, calendar=calendar)
    return paged(
        "chair-balances",
        rows,
        lambda b: (b.pool_id,),
        pages,
        lambda x: s.ChairBalanceOut.of(x, units),
    )


@router.get("/projects", tags=["projects"])
def list_projects(
    uow: UowDep,
    actor: ActorDep,
    pages: PageQ,
    chair_id: str | None = Query(default=None, max_length=64),
) -> Page[s.ProjectOut]:
    """The projects the caller may see (of one chair), by id."""
    rows = svc.list_projects(uow, actor, chair_id)
    return paged("projects", rows, lambda p: (p.id,), pages, s.ProjectOut.of)


@router.post("/projects", status_code=201, tags=["projects"])
def create_project(
    body: s.ProjectIn,
    response: Response,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
) -> s.ProjectOut:
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
    clusters = services.settings.cluster_names()
    created = svc.create_project(uow, actor, now, project, clusters=clusters)
    response.headers["Location"] = f"/api/v1/projects/{quote(created.id)}"
    return s.ProjectOut.of(created)


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
    project_id: str,
    body: s.SlurmAccountIn,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
) -> s.ProjectOut:
    """Map a Slurm account to the project. The cluster must be one gpuhours knows (configured,
    or routed by a pool): otherwise a 422 on ``cluster`` listing the known ones."""
    mapping = SlurmAccount(body.cluster, body.account)
    clusters = services.settings.cluster_names()
    project = svc.map_slurm_account(uow, actor, now, project_id, mapping, clusters=clusters)
    return s.ProjectOut.of(project)


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
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    pages: PageQ,
    period: str | None = CurrentPeriodQ,
    pool_id: str | None = Query(default=None, max_length=64, description="default: every pool"),
) -> Page[s.ProjectBalanceOut]:
    """A project's balance in each pool (or in ``pool_id``) for a period (default: the current
    one), by pool."""
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
    return paged(
        "project-balances",
        rows,
        lambda b: (b.pool_id,),
        pages,
        lambda x: s.ProjectBalanceOut.of(x, units),
    )


@router.get("/balances", tags=["balances"], response_model=Page[s.ProjectBalanceOut])
def balances(
    services: ServicesDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    pages: PageQ,
    period: str | None = CurrentPeriodQ,
    pool_id: str | None = Query(default=None, max_length=64, description="default: every pool"),
    include_empty: bool = False,
) -> Response:
    """Project balances of every project the caller may see, for one period (default: the
    current one), in every pool (or in ``pool_id``), by pool then project."""
    after = after_names("balances", pages, 2)
    rows = svc.visible_balances(
        services.balance_reads,  # one statement, one snapshot
        actor,
        period,
        None if pool_id is None else [pool_id],
        include_empty,
        now=now,
        calendar=calendar,
        after=None if after is None else (after[0], after[1]),
        first=pages.limit + 1,  # the row beyond the page: is there a next one?
    )
    items, cursor = cut("balances", rows, _pool_project, pages)
    return s.ProjectBalanceOut.json_page(items, cursor, units)


def _pool_project(b: ProjectBalance) -> tuple[str, str]:
    return (b.pool_id, b.project_id)
