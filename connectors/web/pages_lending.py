"""The administrators' lending inside a chair: pick a chair, a pool and a period; see the
chair's policy, its projects' limits, unused and lendable hours and its loans; set the terms,
lend, borrow, recall, and return every loan at the period's end. Each move is a journaled
``loan:N`` transfer; a refusal shows beside its field and nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from allocator import rules
from allocator import services as svc
from allocator.errors import AllocatorError
from allocator.lending import Limits, ReturnPolicy
from allocator.model import Role, User
from connectors.web import forms
from connectors.web.pages_projects import periods_around
from connectors.web.render import page
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()
DONE = ("terms", "lent", "borrowed", "recalled", "returned")
Where = tuple[str, str, str]  # chair, pool, period


def _where(visit: Visit, user: User, given: dict[str, str]) -> Where:
    """The chair, pool and period asked (the first chair and pool, the current period when
    not given)."""
    services = visit.services
    chairs = svc.list_chairs(services.uow(read_only=True), user)
    pools = svc.list_pools(services.uow(read_only=True), user)
    now = services.clock()
    return (
        given.get("chair") or (chairs[0].id if chairs else ""),
        given.get("pool") or (pools[0].id if pools else ""),
        given.get("period") or services.settings.calendar.containing(now).label,
    )


def _lending(visit: Visit, user: User, given: dict[str, str]) -> dict[str, Any]:
    rules.require_role(user, Role.ADMIN)
    services = visit.services
    chair, pool, period = where = _where(visit, user, given)
    calendar, now = services.settings.calendar, services.clock()
    found: dict[str, Any] = {
        "where": where,
        "chairs": svc.list_chairs(services.uow(read_only=True), user),
        "pools": svc.list_pools(services.uow(read_only=True), user),
        "periods": [p.label for p in periods_around(calendar, now, back=2, ahead=2)],
        "policies": [p.value for p in ReturnPolicy],
        "view": None,
        "problem": "",
    }
    if not (chair and pool):
        return found
    uow = services.uow(read_only=True)
    try:
        found["view"] = svc.lending_view(
            uow, user, now, chair, pool, period, services.consumption.within(uow),
            calendar=calendar,
        )  # fmt: skip
    except AllocatorError as exc:
        found["problem"] = forms.reason(exc)
    return found


def _show(
    visit: Visit, found: dict[str, Any], errors: dict[str, str], typed: dict[str, str],
    done: str = "",
) -> Response:  # fmt: skip
    _ = visit.speaker.gettext
    unused = dict(found["view"].unused) if found["view"] else {}
    lendable = dict(found["view"].lendable) if found["view"] else {}
    return page(
        visit, "lending.html", 422 if errors else 200, title=_("Lending inside a chair"),
        errors=errors, typed=typed, done=done, unused=unused, lendable=lendable, **found,
    )  # fmt: skip


@router.get("/lending")
async def lending(
    request: Request, chair: str = "", pool: str = "", period: str = "", done: str = ""
) -> Response:
    visit = await visit_of(request)
    given = {"chair": chair, "pool": pool, "period": period}
    found = await run_in_threadpool(_lending, visit, visit.user, given)
    return _show(visit, found, {}, {}, done if done in DONE else "")


Action = Callable[[Visit, User, Where, dict[str, str]], None]


async def _act(request: Request, action: Action, done: str) -> Response:
    """A POST of the page: ``action`` calls the use case; its refusal is shown beside its
    field, and nothing was written."""
    visit = await visit_of(request)
    form = await form_of(visit)
    given = {k: form.get(k, "") for k in ("chair", "pool", "period")}
    try:
        where = await run_in_threadpool(_where, visit, visit.user, given)
        await run_in_threadpool(action, visit, visit.user, where, form)
    except forms.FieldErrors as refused:
        found = await run_in_threadpool(_lending, visit, visit.user, given)
        return _show(visit, found, refused.errors, form)
    query = urlencode({"chair": where[0], "pool": where[1], "period": where[2], "done": done})
    return RedirectResponse(f"{visit.base}/lending?{query}", status_code=303)


def _hours(form: dict[str, str], name: str, visit: Visit, empty_is_none: bool = False) -> Any:
    text = form.get(name, "").strip()
    if empty_is_none and not text:
        return None
    try:
        return forms.hours(text, visit.speaker)
    except ValueError as exc:
        raise forms.FieldErrors({name: str(exc)}) from None


def _terms(visit: Visit, user: User, where: Where, form: dict[str, str]) -> None:
    rules.require_role(user, Role.ADMIN)
    chair = where[0]
    policy = form.get("policy", "")
    if policy not in {p.value for p in ReturnPolicy}:
        raise forms.FieldErrors({"terms-policy": visit.speaker.gettext("Choose one of the list.")})
    projects = [p.id for p in svc.list_projects(visit.services.uow(read_only=True), user)]
    limits = [
        Limits(
            p,
            _hours(form, f"limit-lend-{p}", visit, empty_is_none=True),
            _hours(form, f"limit-borrow-{p}", visit, empty_is_none=True),
        )
        for p in projects
        if f"limit-lend-{p}" in form
    ]
    try:
        svc.set_lending_terms(
            visit.services.uow(), user, visit.services.clock(), chair, ReturnPolicy(policy), limits
        )
    except AllocatorError as exc:
        raise forms.place(exc, {"policy": "terms-policy"}, visit.speaker) from None


def _move(kind: str) -> Action:
    """The action of a loan's form: ``lend``, ``borrow`` or ``recall``."""

    def action(visit: Visit, user: User, where: Where, form: dict[str, str]) -> None:
        rules.require_role(user, Role.ADMIN)
        services = visit.services
        _chair, pool, period = where
        amount = _hours(form, f"{kind}-hours", visit)
        reason = form.get(f"{kind}-reason", "")
        uow, now = services.uow(), services.clock()
        used, calendar = services.consumption.within(uow), services.settings.calendar
        names = {
            "hours": f"{kind}-hours",
            "reason": f"{kind}-reason",
            "lender": f"{kind}-lender",
            "borrower": f"{kind}-borrower",
            "period": f"{kind}-hours",
            "policy": f"{kind}-lender",
        }
        try:
            if kind == "lend":
                svc.lend(
                    uow, user, now, pool, period, form.get("lend-lender", ""),
                    form.get("lend-borrower", ""), amount, reason, used, calendar=calendar,
                )  # fmt: skip
            elif kind == "borrow":
                svc.borrow(
                    uow, user, now, pool, period, form.get("borrow-borrower", ""), amount,
                    reason, used, calendar=calendar,
                )  # fmt: skip
            else:
                svc.recall(
                    uow, user, now, pool, period, form.get("recall-lender", ""), amount,
                    reason, used, calendar=calendar,
                )  # fmt: skip
        except AllocatorError as exc:
            raise forms.place(exc, names, visit.speaker) from None

    return action


def _return(visit: Visit, user: User, where: Where, form: dict[str, str]) -> None:
    rules.require_role(user, Role.ADMIN)
    services = visit.services
    uow = services.uow()
    try:
        svc.return_loans(
            uow, user, services.clock(), where[1], where[2], services.consumption.within(uow),
            calendar=services.settings.calendar,
        )  # fmt: skip
    except AllocatorError as exc:
        raise forms.FieldErrors({"return-loans": forms.reason(exc)}) from None


@router.post("/lending/terms")
async def terms(request: Request) -> Response:
    return await _act(request, _terms, "terms")


@router.post("/lending/lend")
async def lend(request: Request) -> Response:
    return await _act(request, _move("lend"), "lent")


@router.post("/lending/borrow")
async def borrow(request: Request) -> Response:
    return await _act(request, _move("borrow"), "borrowed")


@router.post("/lending/recall")
async def recall(request: Request) -> Response:
    return await _act(request, _move("recall"), "recalled")


@router.post("/lending/return")
async def return_loans(request: Request) -> Response:
    return await _act(request, _return, "returned")
