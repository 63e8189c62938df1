"""Notifications in the portal: what reaches me, per event kind (immediately, in the daily
digest, or not at all; the mandatory kinds never off), and in which language; for
administrators, the site's defaults and the outbox (deliveries by channel and state, the
parked ones, sent again on asking)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from allocator import notices as n
from allocator import rules
from allocator import services as svc
from allocator.errors import AllocatorError
from allocator.model import Role, User
from allocator.services.notifications import LANGUAGES
from connectors.db import delivery_queue as queue
from connectors.web import forms
from connectors.web.render import page
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()


def _preferences(visit: Visit, user: User, site: bool) -> dict[str, Any]:
    if site:
        rules.require_role(user, Role.ADMIN)
    language = visit.services.settings.notify_language
    found = svc.preferences(visit.services.uow(), user, n.SITE if site else None, language)
    return {
        "prefs": found,
        "site": site,
        "modes": [m.value for m in n.Mode],
        "message_languages": LANGUAGES,
    }


def _show(visit: Visit, found: dict[str, Any], errors: dict[str, str], done: str) -> Response:
    _ = visit.speaker.gettext
    title = _("Site defaults of notifications") if found["site"] else _("My notifications")
    return page(
        visit, "notifications.html", 422 if errors else 200, title=title, errors=errors,
        done=done, **found,
    )  # fmt: skip


@router.get("/notifications")
async def mine(request: Request, done: str = "") -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_preferences, visit, visit.user, False)
    return _show(visit, found, {}, done if done.isalpha() else "")


@router.get("/notifications/site")
async def site(request: Request, done: str = "") -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_preferences, visit, visit.user, True)
    return _show(visit, found, {}, done if done.isalpha() else "")


def _save(visit: Visit, user: User, form: dict[str, str], site: bool) -> None:
    """Every kind's mode (and my language): all checked first, then written; a refused one
    writes none."""
    whose = n.SITE if site else None
    current = _preferences(visit, user, site)["prefs"]
    changed: list[tuple[str, str]] = []
    errors: dict[str, str] = {}
    for setting in current.settings:
        name = f"mode-{setting.kind.value}"
        mode = form.get(name, setting.mode.value)
        try:
            n.check_preference(setting.kind.value, n.Channel.EMAIL.value, mode)
        except AllocatorError as exc:
            errors[name] = exc.message.split(": ", 1)[-1]
            continue
        if mode != setting.mode.value:
            changed.append((setting.kind.value, mode))
    language = form.get("language", current.language)
    if not site and language not in LANGUAGES:
        errors["language"] = visit.speaker.gettext("Choose English or French.")
    if errors:
        raise forms.FieldErrors(errors)
    services = visit.services
    for kind, mode in changed:
        svc.set_preference(services.uow(), user, services.clock(), kind, mode, "email", whose)
    if not site and language != current.language:
        svc.set_language(services.uow(), user, services.clock(), language)


async def _post(request: Request, site: bool) -> Response:
    visit = await visit_of(request)
    form = await form_of(visit)
    try:
        await run_in_threadpool(_save, visit, visit.user, form, site)
    except forms.FieldErrors as refused:
        found = await run_in_threadpool(_preferences, visit, visit.user, site)
        return _show(visit, found, refused.errors, "")
    where = "/notifications/site" if site else "/notifications"
    return RedirectResponse(f"{visit.base}{where}?done=saved", status_code=303)


@router.post("/notifications")
async def save_mine(request: Request) -> Response:
    return await _post(request, False)


@router.post("/notifications/site")
async def save_site(request: Request) -> Response:
    return await _post(request, True)


def _outbox(visit: Visit, user: User) -> dict[str, Any]:
    rules.require_role(user, Role.ADMIN)
    with visit.services.read_session_factory() as session:
        counts: dict[str, dict[str, int]] = {}
        for (channel, state), number in queue.counts(session).items():
            counts.setdefault(channel, {})[state] = number
        return {"counts": counts, "parked": queue.parked(session), "health": queue.health(session)}


@router.get("/notifications/outbox")
async def outbox(request: Request, done: str = "") -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_outbox, visit, visit.user)
    _ = visit.speaker.gettext
    return page(visit, "outbox.html", title=_("Outbox"), done=done.isdigit() and done, **found)


def _retry(visit: Visit, user: User, ids: list[int]) -> int:
    rules.require_role(user, Role.ADMIN)
    with visit.services.session_factory.begin() as session:
        return queue.release_parked(session, ids, visit.services.clock())


@router.post("/notifications/outbox/retry")
async def retry(request: Request) -> Response:
    visit = await visit_of(request)
    form = await form_of(visit)
    ids = [int(i) for i in form.get("ids", "").split(",") if i.strip().isdigit()]
    released = await run_in_threadpool(_retry, visit, visit.user, ids) if ids else 0
    return RedirectResponse(f"{visit.base}/notifications/outbox?done={released}", 303)
