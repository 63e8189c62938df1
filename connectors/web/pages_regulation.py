"""The administrators' regulation page: each pool's rule (GENCI, TGCC) set in a form; for the
pool chosen, what each project would lose and when at its burn rate (the simulation), and the
button applying the clawbacks due now, each once. A refusal shows beside its field."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from allocator import rules
from allocator import services as svc
from allocator.errors import AllocatorError, NotFound
from allocator.model import Role, User
from allocator.regulation import Destination, LinearPlanRule, Regulation, Rule, UnderuseRule
from connectors.web import forms
from connectors.web.render import page
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()
DONE = ("set", "applied")
#: the form's whole-number fields: name -> (default, least, most)
NUMBERS = {
    "after_months": (5, 1, 120),
    "threshold_percent": (30, 1, 100),
    "reclaim_percent": (40, 1, 100),
    "check_day": (15, 1, 31),
    "late_days": (60, 1, 3650),
    "deduct_days": (30, 1, 3650),
}


def _regulation(visit: Visit, user: User, pool: str) -> dict[str, Any]:
    rules.require_role(user, Role.ADMIN)
    services = visit.services
    pools = svc.list_pools(services.uow(read_only=True), user)
    regulated = {r.pool_id: r for r in svc.list_regulations(services.uow(read_only=True), user)}
    chosen = pool or (next(iter(regulated), "") or (pools[0].id if pools else ""))
    found: dict[str, Any] = {
        "pools": pools,
        "regulated": regulated,
        "chosen": chosen,
        "current": regulated.get(chosen),
        "outlooks": None,
        "numbers": {k: v[0] for k, v in NUMBERS.items()},
    }
    if chosen in regulated:
        uow = services.uow(read_only=True)
        found["outlooks"] = svc.simulate_regulation(
            uow, user, services.clock(), chosen, services.consumption.within(uow),
            calendar=services.settings.calendar,
        )  # fmt: skip
    return found


def _show(
    visit: Visit, found: dict[str, Any], errors: dict[str, str], typed: dict[str, str],
    done: str = "",
) -> Response:  # fmt: skip
    _ = visit.speaker.gettext
    return page(
        visit, "regulation.html", 422 if errors else 200, title=_("Regulation of grants"),
        errors=errors, typed=typed, done=done, **found,
    )  # fmt: skip


@router.get("/regulation")
async def regulation(request: Request, pool: str = "", done: str = "") -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_regulation, visit, visit.user, pool)
    return _show(visit, found, {}, {}, done if done in DONE else "")


def _number(visit: Visit, form: dict[str, str], name: str) -> int:
    default, low, high = NUMBERS[name]
    text = form.get(name, "").strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        message = visit.speaker.gettext("Enter a whole number from %(low)s to %(high)s.")
        raise forms.FieldErrors({f"rule-{name}": message % {"low": low, "high": high}})
    return int(text)


def _set(visit: Visit, user: User, form: dict[str, str]) -> str:
    rules.require_role(user, Role.ADMIN)
    _ = visit.speaker.gettext
    pool = form.get("pool", "")
    kind, where = form.get("rule", ""), form.get("destination", "")
    if kind not in ("genci", "tgcc"):
        raise forms.FieldErrors({"rule-rule": _("Choose one of the list.")})
    if where not in {d.value for d in Destination}:
        raise forms.FieldErrors({"rule-destination": _("Choose one of the list.")})
    n = {name: _number(visit, form, name) for name in NUMBERS}
    rule: Rule = (
        UnderuseRule(n["after_months"], n["threshold_percent"] * 10, n["reclaim_percent"] * 10)
        if kind == "genci"
        else LinearPlanRule(n["check_day"], n["late_days"], n["deduct_days"])
    )
    try:
        svc.set_regulation(
            visit.services.uow(), user, visit.services.clock(),
            Regulation(pool, rule, Destination(where)),
        )  # fmt: skip
    except AllocatorError as exc:
        raise forms.place(exc, {"pool_id": "rule-pool"}, visit.speaker) from None
    return pool


def _apply(visit: Visit, user: User, form: dict[str, str]) -> str:
    rules.require_role(user, Role.ADMIN)
    services = visit.services
    pool = form.get("pool", "")
    uow = services.uow()
    try:
        svc.apply_regulation(
            uow, user, services.clock(), pool, services.consumption.within(uow),
            calendar=services.settings.calendar,
        )  # fmt: skip
    except NotFound:
        raise
    except AllocatorError as exc:
        raise forms.FieldErrors({"apply": forms.reason(exc)}) from None
    return pool


async def _act(request: Request, action: Any, done: str) -> Response:
    visit = await visit_of(request)
    form = await form_of(visit)
    try:
        pool = await run_in_threadpool(action, visit, visit.user, form)
    except forms.FieldErrors as refused:
        found = await run_in_threadpool(_regulation, visit, visit.user, form.get("pool", ""))
        return _show(visit, found, refused.errors, form)
    query = urlencode({"pool": pool, "done": done})
    return RedirectResponse(f"{visit.base}/regulation?{query}", status_code=303)


@router.post("/regulation")
async def set_rule(request: Request) -> Response:
    return await _act(request, _set, "set")


@router.post("/regulation/apply")
async def apply(request: Request) -> Response:
    return await _act(request, _apply, "applied")
