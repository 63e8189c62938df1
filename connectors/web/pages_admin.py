"""The administrators' organisation: the pools (a grant, a rate, the over-commit factor, each
a form on the pool's page) and a project's members and Slurm accounts (add a member, map or
unmap an account). Each form calls the use case the API calls; a refusal is shown beside its
field, and nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from allocator import rules
from allocator import services as svc
from allocator.errors import AllocatorError, NotFound
from allocator.hours import Sign
from allocator.model import MILLI, PoolKind, Rate, Role, SlurmAccount, User
from allocator.services.people import known_clusters
from connectors.web import forms
from connectors.web.render import page
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()
Action = Callable[[Visit, User, str, dict[str, str]], str]


def _pools(visit: Visit, user: User) -> dict[str, Any]:
    rules.require_role(user, Role.ADMIN)
    return {"pools": svc.list_pools(visit.services.uow(read_only=True), user)}


@router.get("/pools")
async def pools(request: Request) -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_pools, visit, visit.user)
    _ = visit.speaker.gettext
    return page(visit, "pools.html", title=_("Pools"), **found)


def _pool(visit: Visit, user: User, pool_id: str) -> dict[str, Any]:
    rules.require_role(user, Role.ADMIN)
    with visit.services.uow(read_only=True) as uow:
        pool = svc.get_pool(uow, pool_id)
    return {"pool": pool, "national": pool.kind is PoolKind.NATIONAL}


def _show_pool(visit: Visit, found: dict[str, Any], errors: dict[str, str], done: str) -> Response:
    return page(
        visit, "pool.html", 422 if errors else 200, title=found["pool"].name, errors=errors,
        done=done, **found,
    )  # fmt: skip


@router.get("/pools/{pool_id}")
async def pool(request: Request, pool_id: str, done: str = "") -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_pool, visit, visit.user, pool_id)
    return _show_pool(visit, found, {}, done if done.isalpha() else "")


async def _act(
    request: Request,
    key: str,
    action: Action,
    load: Callable[[Visit, User, str], dict[str, Any]],
    show: Callable[[Visit, dict[str, Any], dict[str, str], str], Response],
    where: str,
) -> Response:
    """A POST of an organisation page (``where``, the page of ``key``): ``action`` calls the
    use case; a refusal is shown beside its field on that page (``load``, ``show``)."""
    visit = await visit_of(request)
    form = await form_of(visit)
    try:
        done = await run_in_threadpool(action, visit, visit.user, key, form)
    except forms.FieldErrors as refused:
        found = await run_in_threadpool(load, visit, visit.user, key)
        return show(visit, found, refused.errors, "")
    return RedirectResponse(f"{visit.base}{where}?done={done}", status_code=303)


async def _act_on_pool(request: Request, pool_id: str, action: Action) -> Response:
    return await _act(request, pool_id, action, _pool, _show_pool, f"/pools/{pool_id}")


def _refused(exc: AllocatorError, fields: dict[str, str], visit: Visit) -> forms.FieldErrors:
    """The use case's refusal beside its field; a refusal of the form as a whole beside the
    form's first field (``fields``' first value)."""
    placed = forms.place(exc, fields, visit.speaker)
    first = next(iter(fields.values()))
    return forms.FieldErrors(
        {(first if k == forms.FORM else k): v for k, v in placed.errors.items()}
    )


def _grant(visit: Visit, user: User, pool_id: str, form: dict[str, str]) -> str:
    rules.require_role(user, Role.ADMIN)
    try:
        seconds = forms.hours(form.get("hours", ""), visit.speaker, Sign.POSITIVE)
    except ValueError as exc:
        raise forms.FieldErrors({"grant-hours": str(exc)}) from None
    services = visit.services
    try:
        svc.add_grant(
            services.uow(), user, services.clock(), pool_id, seconds, form.get("reason", ""),
            calendar=services.settings.calendar,
        )  # fmt: skip
    except NotFound:
        raise
    except AllocatorError as exc:
        fields = {"hours": "grant-hours", "reason": "grant-reason", "start": "grant-hours"}
        raise _refused(exc, fields, visit) from None
    return "granted"


@router.post("/pools/{pool_id}/grant")
async def grant(request: Request, pool_id: str) -> Response:
    return await _act_on_pool(request, pool_id, _grant)


def _rate(visit: Visit, user: User, pool_id: str, form: dict[str, str]) -> str:
    rules.require_role(user, Role.ADMIN)
    _ = visit.speaker.gettext
    errors: dict[str, str] = {}
    gpu_type = form.get("gpu_type", "").strip()
    if not gpu_type:
        errors["rate-gpu-type"] = _("Name the GPU type.")
    milli = 0
    try:
        value = Decimal(form.get("rate", "").strip().replace(",", "."))
        milli = int(value * MILLI)
        if not value.is_finite() or value * MILLI != milli or not 0 < milli <= 1000 * MILLI:
            raise InvalidOperation
    except InvalidOperation:
        errors["rate-value"] = _("Enter a rate above 0 and at most 1000, such as 2 or 0.5.")
    try:
        day = datetime.strptime(form.get("effective_from", ""), "%Y-%m-%d")
    except ValueError:
        errors["rate-from"] = _("Enter a date, such as 2027-01-01.")
    if errors:
        raise forms.FieldErrors(errors)
    services = visit.services
    try:
        svc.set_rate(services.uow(), user, services.clock(), pool_id,
                     Rate(gpu_type, milli, day.replace(tzinfo=UTC)))  # fmt: skip
    except NotFound:
        raise
    except AllocatorError as exc:
        fields = {"effective_from": "rate-from", "rate": "rate-value", "gpu_type": "rate-gpu-type"}
        raise _refused(exc, fields, visit) from None
    return "rated"


@router.post("/pools/{pool_id}/rate")
async def rate(request: Request, pool_id: str) -> Response:
    return await _act_on_pool(request, pool_id, _rate)


def _overcommit(visit: Visit, user: User, pool_id: str, form: dict[str, str]) -> str:
    rules.require_role(user, Role.ADMIN)
    try:
        value = Decimal(form.get("factor", "").strip().replace(",", "."))
        milli = int(value * MILLI)
        if not value.is_finite() or value * MILLI != milli:
            raise InvalidOperation
    except InvalidOperation:
        text = visit.speaker.gettext("Enter a factor from 1 to 10, such as 1.2.")
        raise forms.FieldErrors({"overcommit-factor": text}) from None
    services = visit.services
    try:
        svc.set_overcommit(
            services.uow(), user, services.clock(), pool_id, milli, form.get("reason", "")
        )
    except NotFound:
        raise
    except AllocatorError as exc:
        fields = {"overcommit": "overcommit-factor", "reason": "overcommit-reason"}
        raise _refused(exc, fields, visit) from None
    return "overcommitted"


@router.post("/pools/{pool_id}/overcommit")
async def overcommit(request: Request, pool_id: str) -> Response:
    return await _act_on_pool(request, pool_id, _overcommit)


# --- a project's members and Slurm accounts -------------------------------------------------


def _members(visit: Visit, user: User, project_id: str) -> dict[str, Any]:
    rules.require_role(user, Role.ADMIN)
    with visit.services.uow(read_only=True) as uow:
        project = svc.get_project(uow, project_id, user)
        clusters = known_clusters(uow, visit.services.settings.cluster_names())
    zone = visit.services.settings.calendar.zone
    end_day = "" if project.end is None else project.end.astimezone(zone).date().isoformat()
    return {"project": project, "clusters": clusters, "end_day": end_day}


def _show_members(
    visit: Visit, found: dict[str, Any], errors: dict[str, str], done: str
) -> Response:
    _ = visit.speaker.gettext
    title = _("Members and accounts of %(project)s") % {"project": found["project"].name}
    return page(
        visit, "project_admin.html", 422 if errors else 200, title=title, errors=errors,
        done=done, **found,
    )  # fmt: skip


@router.get("/projects/{project_id}/members")
async def members(request: Request, project_id: str, done: str = "") -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_members, visit, visit.user, project_id)
    return _show_members(visit, found, {}, done if done.isalpha() else "")


async def _act_on_project(request: Request, project_id: str, action: Action) -> Response:
    where = f"/projects/{project_id}/members"
    return await _act(request, project_id, action, _members, _show_members, where)


def _add_member(visit: Visit, user: User, project_id: str, form: dict[str, str]) -> str:
    rules.require_role(user, Role.ADMIN)
    username = form.get("username", "").strip()
    if not username:
        raise forms.FieldErrors({"member": visit.speaker.gettext("Name a user.")})
    services = visit.services
    try:
        svc.add_member(services.uow(), user, services.clock(), project_id, username)
    except AllocatorError as exc:
        if isinstance(exc, NotFound) and exc.kind == "project":
            raise
        raise forms.FieldErrors({"member": _text(exc, visit)}) from None
    return "added"


def _text(exc: AllocatorError, visit: Visit) -> str:
    """The refusal's reason, without its field's name (shown beside that field)."""
    if isinstance(exc, NotFound):
        return visit.speaker.gettext("Unknown: %(what)s") % {"what": exc.key}
    return forms.reason(exc)


@router.post("/projects/{project_id}/members")
async def add_member(request: Request, project_id: str) -> Response:
    return await _act_on_project(request, project_id, _add_member)


def _map(visit: Visit, user: User, project_id: str, form: dict[str, str]) -> str:
    rules.require_role(user, Role.ADMIN)
    mapping = SlurmAccount(form.get("cluster", "").strip(), form.get("account", "").strip())
    if not mapping.account:
        raise forms.FieldErrors({"account": visit.speaker.gettext("Name the Slurm account.")})
    services = visit.services
    try:
        svc.map_slurm_account(
            services.uow(), user, services.clock(), project_id, mapping,
            clusters=services.settings.cluster_names(),
        )  # fmt: skip
    except AllocatorError as exc:
        if isinstance(exc, NotFound) and exc.kind == "project":
            raise
        field = "cluster" if exc.field == "cluster" else "account"
        raise forms.FieldErrors({field: _text(exc, visit)}) from None
    return "mapped"


@router.post("/projects/{project_id}/accounts")
async def map_account(request: Request, project_id: str) -> Response:
    return await _act_on_project(request, project_id, _map)


def _unmap(visit: Visit, user: User, project_id: str, form: dict[str, str]) -> str:
    rules.require_role(user, Role.ADMIN)
    mapping = SlurmAccount(form.get("cluster", ""), form.get("account", ""))
    services = visit.services
    try:
        svc.unmap_slurm_account(services.uow(), user, services.clock(), project_id, mapping)
    except AllocatorError as exc:
        if isinstance(exc, NotFound) and exc.kind == "project":
            raise
        raise forms.FieldErrors({"account": _text(exc, visit)}) from None
    return "unmapped"


@router.post("/projects/{project_id}/accounts/remove")
async def unmap_account(request: Request, project_id: str) -> Response:
    return await _act_on_project(request, project_id, _unmap)


def _end(visit: Visit, user: User, project_id: str, form: dict[str, str]) -> str:
    """The project's end (a thesis's defence), a day in the site's time zone; empty: none."""
    rules.require_role(user, Role.ADMIN)
    services = visit.services
    text = form.get("end", "").strip()
    try:
        day = date.fromisoformat(text) if text else None
    except ValueError:
        raise forms.FieldErrors(
            {"end": visit.speaker.gettext("Enter a date, such as 2026-12-15.")}
        ) from None
    zone = services.settings.calendar.zone
    end = None if day is None else datetime.combine(day, time(0), tzinfo=zone)
    try:
        svc.set_project_end(services.uow(), user, services.clock(), project_id, end)
    except AllocatorError as exc:
        if isinstance(exc, NotFound) and exc.kind == "project":
            raise
        raise forms.FieldErrors({"end": _text(exc, visit)}) from None
    return "ended" if end is not None else "unended"


@router.post("/projects/{project_id}/end")
async def end_project(request: Request, project_id: str) -> Response:
    return await _act_on_project(request, project_id, _end)
