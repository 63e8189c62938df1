"""The engineers' pages (admins see them too): ingestion health per cluster with the latest
quarantined records, the unmapped Slurm accounts with their usage and a map-to-project form,
and the burn rates of every project, sortable, those running out before the period's end
flagged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from accounting import services as acc
from accounting.burn import Outlook
from allocator import rules
from allocator import services as svc
from allocator.errors import AllocatorError
from allocator.model import Role, SlurmAccount, User
from allocator.ports import Newest
from connectors.presenters.usage import at
from connectors.web import forms
from connectors.web.pages_projects import period_asked, periods_around
from connectors.web.render import page, paginate
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()
STAFF = (Role.ADMIN, Role.ENGINEER)
#: Quarantined records shown on the ingestion page (newest first; "older" pages on).
QUARANTINE_SHOWN = 50
#: The soonest to run out first: used up, then by the day it runs out, then the others.
OUTLOOK_RANK = {
    Outlook.EXHAUSTED: 0,
    Outlook.BEFORE_PERIOD_END: 1,
    Outlook.NOT_BEFORE_PERIOD_END: 2,
    Outlook.NO_ALLOCATION: 3,
}
#: The orders of the burn table: its key, and whether the largest comes first.
BURN_ORDERS: dict[str, tuple[Any, bool]] = {
    "exhaustion": (lambda b: (OUTLOOK_RANK[b.burn.outlook], b.burn.exhaustion or 0), False),
    "project": (lambda b: (b.balance.project_id, b.balance.pool_id), False),
    "rate": (lambda b: b.burn.rate_7d, True),
    "remaining": (lambda b: b.balance.remaining, False),
}


# --- ingestion ------------------------------------------------------------------------------


def _ingestion(visit: Visit, user: User, before: int | None) -> dict[str, Any]:
    rules.require_role(user, *STAFF)
    services = visit.services
    configured = {c.name: c.source for c in services.settings.clusters}
    epoch = int(services.clock().timestamp())
    health = acc.cluster_health(
        services.uow(read_only=True), user, services.usage_store(), configured, epoch
    )
    window = Newest(QUARANTINE_SHOWN + 1, before)
    held = acc.quarantine(services.uow(read_only=True), user, None, window)
    return {
        "clusters": [(h, at(h.last_success), at(h.watermark)) for h in health],
        "quarantined": [(q, at(q.last_seen)) for q in held[:QUARANTINE_SHOWN]],
        "older": held[QUARANTINE_SHOWN - 1].id if len(held) > QUARANTINE_SHOWN else None,
    }


@router.get("/ingestion")
async def ingestion(request: Request, before: int | None = None) -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_ingestion, visit, visit.user, before)
    _ = visit.speaker.gettext
    return page(visit, "ingestion.html", title=_("Ingestion"), **found)


# --- unmapped accounts ----------------------------------------------------------------------


def _unmapped(visit: Visit, user: User, period: str) -> dict[str, Any]:
    rules.require_role(user, *STAFF)
    services = visit.services
    calendar, now = services.settings.calendar, services.clock()
    uow = services.uow(read_only=True)
    usage = acc.account_usage(uow, user, None, True, period, now=now, calendar=calendar)
    projects = svc.list_projects(services.uow(read_only=True), user)
    return {
        "accounts": usage,
        "projects": projects,
        "period": period,
        "periods": [p.label for p in periods_around(calendar, now)],
    }


def _show_unmapped(
    visit: Visit, found: dict[str, Any], errors: dict[str, str], done: str = ""
) -> Response:
    _ = visit.speaker.gettext
    status = 422 if errors else 200
    return page(
        visit, "unmapped.html", status, title=_("Unmapped accounts"), errors=errors, done=done,
        row_field=row_field,
        **found,
    )  # fmt: skip


@router.get("/unmapped")
async def unmapped(request: Request, period: str = "", mapped: str = "") -> Response:
    visit = await visit_of(request)
    label = period_asked(visit, period)
    found = await run_in_threadpool(_unmapped, visit, visit.user, label)
    return _show_unmapped(visit, found, {}, mapped)


def _map(visit: Visit, user: User, form: dict[str, str]) -> str:
    """Map the form's account to the form's project; the field's name for a refusal is the
    row's (``project-<cluster>/<account>``)."""
    rules.require_role(user, *STAFF)
    mapping = SlurmAccount(form.get("cluster", ""), form.get("account", ""))
    field = row_field(mapping.cluster, mapping.account)
    project_id = form.get("project", "").strip()
    if not project_id:
        raise forms.FieldErrors({field: visit.speaker.gettext("Choose a project.")})
    services = visit.services
    try:
        svc.map_slurm_account(
            services.uow(),
            user,
            services.clock(),
            project_id,
            mapping,
            clusters=services.settings.cluster_names(),
        )
    except AllocatorError as exc:
        refused = forms.place(exc, {"project_id": field, "account": field}, visit.speaker)
        # a refusal with no field of its own is still this row's
        raise forms.FieldErrors({field: " ".join(refused.errors.values())}) from None
    return f"{mapping.account}@{mapping.cluster} → {project_id}"


def row_field(cluster: str, account: str) -> str:
    """The id of an account's project field (an HTML id: letters, digits, ``-`` and ``_``)."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in account)
    return f"project-{cluster}-{safe}"


@router.post("/unmapped/map")
async def map_account(request: Request) -> Response:
    visit = await visit_of(request)
    form = await form_of(visit)
    label = period_asked(visit, form.get("period", ""))
    try:
        done = await run_in_threadpool(_map, visit, visit.user, form)
    except forms.FieldErrors as refused:
        found = await run_in_threadpool(_unmapped, visit, visit.user, label)
        rows = {row_field(u.cluster, u.account) for u in found["accounts"]}
        # an account no longer listed (mapped meanwhile): its refusal heads the page
        errors = {k if k in rows else forms.FORM: v for k, v in refused.errors.items()}
        return _show_unmapped(visit, found, errors)
    target = f"{visit.base}/unmapped?period={label}&mapped={done}"
    return RedirectResponse(target, status_code=303)


# --- burn rates -------------------------------------------------------------------------------


def _burn(visit: Visit, user: User, period: str, order: str, number: int) -> dict[str, Any]:
    rules.require_role(user, *STAFF)
    services = visit.services
    calendar, now = services.settings.calendar, services.clock()
    rows = acc.burn_rates(services.uow(read_only=True), user, now, period, None, calendar=calendar)
    key, largest_first = BURN_ORDERS[order]
    rows = sorted(rows, key=key, reverse=largest_first)
    shown, number, pages = paginate(rows, number)
    return {
        "rows": [(b, at(b.burn.exhaustion)) for b in shown],
        "page_number": number,
        "pages": pages,
        "total": len(rows),
        "flagged": sum(b.burn.exhausts_before_period_end for b in rows),
        "units": services.pool_units,
        "period": period,
        "order": order,
        "orders": list(BURN_ORDERS),
        "periods": [p.label for p in periods_around(calendar, now, back=4, ahead=0)],
    }


@router.get("/burn")
async def burn(
    request: Request,
    period: str = "",
    sort: str = "exhaustion",
    number: int = Query(1, alias="page"),
) -> Response:
    visit = await visit_of(request)
    label = period_asked(visit, period)
    order = sort if sort in BURN_ORDERS else "exhaustion"
    found = await run_in_threadpool(_burn, visit, visit.user, label, order, number)
    _ = visit.speaker.gettext
    return page(visit, "burn.html", title=_("Burn rates"), **found)
