"""Enforcement in the portal (engineers read, administrators apply): each enforced cluster's
plan (what differs between the ledger and Slurm, and what is skipped while gpuhours is
unsure), an account's diagnosis (expected and actual, with the ``sacctmgr`` commands), and
the apply, whose outcome is shown change by change."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from allocator import rules
from allocator.enforcement import drift
from allocator.errors import NotFound
from allocator.model import Role, User
from allocator.services import enforcement as enf
from connectors import enforcement as wiring
from connectors.presenters import enforcement as present
from connectors.settings import ClusterConfig
from connectors.web.render import page
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()
STAFF = (Role.ADMIN, Role.ENGINEER)


def _config(visit: Visit, user: User, name: str) -> ClusterConfig:
    rules.require_role(user, *STAFF)
    for config in visit.services.settings.clusters:
        if config.name == name and config.enforce in ("plan", "apply"):
            return config
    raise NotFound("cluster", name)


def _clusters(visit: Visit, user: User) -> dict[str, Any]:
    rules.require_role(user, *STAFF)
    found = [c for c in visit.services.settings.clusters if c.enforce in ("plan", "apply")]
    return {"clusters": found}


@router.get("/enforcement")
async def clusters(request: Request) -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_clusters, visit, visit.user)
    _ = visit.speaker.gettext
    return page(visit, "enforcement.html", title=_("Enforcement"), **found)


def _plan(visit: Visit, user: User, name: str) -> dict[str, Any]:
    config = _config(visit, user, name)
    result = wiring.plan(visit.services, user, config)
    return {
        "config": config,
        "plan": result,
        "changes": [present.change(c) for c in result.changes],
        "drift": drift(result.desired, result.actual),
        "applied": None,
    }


@router.get("/enforcement/{cluster}")
async def plan(request: Request, cluster: str) -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_plan, visit, visit.user, cluster)
    _ = visit.speaker.gettext
    title = _("Enforcement on %(cluster)s") % {"cluster": cluster}
    return page(visit, "enforcement_plan.html", title=title, **found)


def _apply(visit: Visit, user: User, name: str) -> dict[str, Any]:
    rules.require_role(user, Role.ADMIN)
    config = _config(visit, user, name)
    if config.enforce != "apply":
        raise NotFound("cluster", name)
    result = wiring.plan(visit.services, user, config)
    done: list[enf.Applied] = wiring.apply(visit.services, user, config, result)
    after = _plan(visit, user, name)
    return after | {"applied": [present.applied(a) for a in done]}


@router.post("/enforcement/{cluster}/apply")
async def apply(request: Request, cluster: str) -> Response:
    visit = await visit_of(request)
    await form_of(visit)  # the CSRF token
    found = await run_in_threadpool(_apply, visit, visit.user, cluster)
    _ = visit.speaker.gettext
    title = _("Enforcement on %(cluster)s") % {"cluster": cluster}
    return page(visit, "enforcement_plan.html", title=title, **found)


def _diagnose(visit: Visit, user: User, name: str, account: str) -> dict[str, Any]:
    config = _config(visit, user, name)
    found = enf.diagnose(wiring.plan(visit.services, user, config), account)
    return {"d": present.diagnosis(found, wiring.weights(visit.services, config))}


@router.get("/enforcement/{cluster}/accounts/{account}")
async def diagnose(request: Request, cluster: str, account: str) -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_diagnose, visit, visit.user, cluster, account)
    _ = visit.speaker.gettext
    title = _("Account %(account)s on %(cluster)s") % {"account": account, "cluster": cluster}
    return page(visit, "enforcement_account.html", title=title, **found)
