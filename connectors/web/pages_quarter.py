"""The administrators' quarter, pool by pool: import a statement by upload, reconcile it (accept
a line's difference or adjust the project), preview the close (what each pool's policy will do
with the unused hours, and what would refuse it), close; then the period's report in the
browser, with its CSV, JSON and HTML downloads (``/reports/<period>``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from accounting import services as acc
from accounting.errors import AccountingError, PeriodClosed, StatementError
from accounting.reconcile import Tolerance
from accounting.statements import NATIONAL_CSV, SREPORT
from allocator import rules
from allocator import services as svc
from allocator.errors import AllocatorError, InvalidInput, NotFound
from allocator.hours import Sign
from allocator.model import Role, User
from connectors.presenters import reports as present_report
from connectors.web import forms
from connectors.web.pages_projects import period_asked, periods_around
from connectors.web.render import NO_STORE, PAGE_ROWS, page, paginate
from connectors.web.visit import Visit, form_of, upload_of, visit_of

router = APIRouter()
#: The formats a statement is uploaded in here (a mapped CSV names its columns: API or CLI).
FORMATS = (NATIONAL_CSV, SREPORT)
MAX_UPLOAD = 20 * 1024 * 1024
REPORT_MEDIA = {"csv": "text/csv", "json": "application/json", "html": "text/html"}


def _label(visit: Visit, period: str) -> str:
    """The period asked, else the one before the current (the period to close)."""
    calendar, now = visit.services.settings.calendar, visit.services.clock()
    if not period:
        return calendar.previous(calendar.containing(now)).label
    return period_asked(visit, period)


def _frame(visit: Visit, user: User, period: str, pool_id: str) -> dict[str, Any]:
    """What every quarter page shows: the period, its state, the pools, the pool chosen."""
    rules.require_role(user, Role.ADMIN)
    services = visit.services
    calendar, now = services.settings.calendar, services.clock()
    pools = svc.list_pools(services.uow(read_only=True), user)
    pool = next((p for p in pools if p.id == pool_id), pools[0] if pools else None)
    if pool is None or (pool_id and pool.id != pool_id):
        raise NotFound("pool", pool_id)
    state = acc.period_state(services.uow(read_only=True), period, now=now, calendar=calendar)
    return {
        "period": period,
        "periods": [p.label for p in periods_around(calendar, now, back=6, ahead=0)],
        "pools": pools,
        "pool": pool,
        "state": state,
        "ended": now >= state.end,
    }


def _quarter(
    visit: Visit, user: User, period: str, pool_id: str, number: int = 1
) -> dict[str, Any]:
    """The pool's statements and reconciliation: the unresolved lines first, 50 a page."""
    found = _frame(visit, user, period, pool_id)
    services = visit.services
    when: dict[str, Any] = {"now": services.clock(), "calendar": services.settings.calendar}
    pool = found["pool"].id
    read = services.uow(read_only=True)
    statements = acc.list_statements(read, user, pool, period, **when)
    rec = acc.reconcile(services.uow(read_only=True), user, pool, period, Tolerance(), **when)
    lines = sorted(rec.lines, key=lambda line: line.status not in acc.UNRESOLVED)
    shown, number, pages = paginate(lines, number)
    unresolved = sum(line.status in acc.UNRESOLVED for line in lines)
    return found | {
        "formats": FORMATS,
        "statements": statements,
        "lines": shown,
        "unresolved": unresolved,
        "page_number": number,
        "pages": pages,
    }


def _show(visit: Visit, found: dict[str, Any], errors: dict[str, str], done: str = "") -> Response:
    _ = visit.speaker.gettext
    title = _("Quarter %(period)s") % {"period": found["period"]}
    return page(
        visit, "quarter.html", 422 if errors else 200, title=title, errors=errors, done=done,
        line_id=line_id, **found,
    )  # fmt: skip


def _closing(visit: Visit, user: User, period: str, pool_id: str) -> dict[str, Any]:
    """The close's preview for the pool chosen (its 50 largest unused balances, and the
    pool's totals), and how many lines of every pool would refuse the close."""
    found = _frame(visit, user, period, pool_id)
    if found["state"].closed:
        return found | {"preview": None}
    services = visit.services
    preview = acc.close_preview(
        services.uow(read_only=True), user, period,
        now=services.clock(), calendar=services.settings.calendar,
    )  # fmt: skip
    mine = [(chair, o) for p, chair, o in preview.outcomes if p.id == found["pool"].id]
    mine.sort(key=lambda pair: -pair[1].unused)
    totals = {
        name: sum(getattr(o, name) for _chair, o in mine)
        for name in ("unused", "expired", "carried", "returned")
    }
    return found | {
        "preview": preview,
        "largest": mine[:PAGE_ROWS],
        "outcomes": len(mine),
        "totals": totals,
    }


def _show_closing(visit: Visit, found: dict[str, Any], errors: dict[str, str]) -> Response:
    _ = visit.speaker.gettext
    title = _("Close %(period)s") % {"period": found["period"]}
    return page(visit, "closing.html", 422 if errors else 200, title=title, errors=errors, **found)


def line_id(project_id: str) -> str:
    """The HTML id part of a reconciliation line (``""``: the unmapped accounts' line)."""
    return project_id or "unmapped"


@router.get("/quarter")
async def quarter(
    request: Request,
    period: str = "",
    pool: str = "",
    done: str = "",
    number: int = Query(1, alias="page"),
) -> Response:
    visit = await visit_of(request)
    label = _label(visit, period)
    found = await run_in_threadpool(_quarter, visit, visit.user, label, pool, number)
    return _show(visit, found, {}, done if done.isalpha() else "")


@router.get("/quarter/close")
async def closing(request: Request, period: str = "", pool: str = "") -> Response:
    visit = await visit_of(request)
    label = _label(visit, period)
    found = await run_in_threadpool(_closing, visit, visit.user, label, pool)
    return _show_closing(visit, found, {})


async def _act(request: Request, action: Any, form: dict[str, str] | None = None) -> Response:
    """A POST of the quarter page: ``action(visit, user, form, period, pool)`` calls the use
    case; a refusal is shown beside its field on the page, and nothing was written."""
    visit = await visit_of(request)
    form = await form_of(visit) if form is None else form
    label = _label(visit, form.get("period", ""))
    pool = form.get("pool", "")
    try:
        done = await run_in_threadpool(action, visit, visit.user, form, label, pool)
    except forms.FieldErrors as refused:
        if action is _close:
            found = await run_in_threadpool(_closing, visit, visit.user, label, pool)
            return _show_closing(visit, found, refused.errors)
        found = await run_in_threadpool(_quarter, visit, visit.user, label, pool)
        return _show(visit, found, refused.errors)
    if done == "closed":
        return RedirectResponse(f"{visit.base}/reports/{label}?done=closed", status_code=303)
    target = f"{visit.base}/quarter?period={label}&pool={pool}&done={done}"
    return RedirectResponse(target, status_code=303)


def _import(visit: Visit, user: User, form: dict[str, Any], period: str, pool: str) -> str:
    rules.require_role(user, Role.ADMIN)
    data, name = form.get("_file"), form.get("_file_name") or ""
    fmt = form.get("format", "")
    if not data:
        raise forms.FieldErrors({"statement-file": visit.speaker.gettext("Choose a file.")})
    if fmt not in FORMATS:
        raise forms.FieldErrors({"statement-format": visit.speaker.gettext("Choose a format.")})
    services = visit.services
    try:
        info = acc.import_statement(
            services.uow(), user, services.clock(), pool, period, fmt, data,
            name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] or "upload",
            calendar=services.settings.calendar,
        )  # fmt: skip
    except (StatementError, PeriodClosed, InvalidInput) as exc:
        raise forms.FieldErrors({"statement-file": exc.message}) from None
    return "imported" if info.created else "unchanged"


@router.post("/quarter/statements")
async def import_statement(request: Request) -> Response:
    visit = await visit_of(request)
    upload = await upload_of(visit, MAX_UPLOAD)
    form: dict[str, Any] = dict(upload.fields) | {
        "_file": upload.file,
        "_file_name": upload.file_name,
    }
    return await _act(request, _import, form)


def _decide(visit: Visit, user: User, form: dict[str, str], period: str, pool: str) -> str:
    rules.require_role(user, Role.ADMIN)
    project = form.get("project", "")
    action = form.get("action", "")
    where = line_id(project)
    reason = form.get("reason", "")
    amount = 0
    if action == "adjust":
        try:
            amount = forms.hours(form.get("hours", "") or "0", visit.speaker, Sign.SIGNED)
            if not amount:
                raise ValueError
        except ValueError:
            text = visit.speaker.gettext(
                "Enter a number of hours other than 0, such as 12 or -0.5 (at most 3"
                " decimals); a negative one takes hours away."
            )
            raise forms.FieldErrors({f"hours-{where}": text}) from None
    elif action != "accept":
        raise NotFound("action", action)
    services = visit.services
    try:
        acc.decide(
            services.uow(), user, services.clock(), pool, period, project, action, amount,
            reason, calendar=services.settings.calendar,
        )  # fmt: skip
    except (AllocatorError, AccountingError) as exc:
        fields = {"reason": f"reason-{where}", "hours": f"hours-{where}"}
        raise forms.FieldErrors(
            {fields.get(exc.field or "", f"reason-{where}"): forms.reason(exc)}
        ) from None
    return "decided"


@router.post("/quarter/decide")
async def decide(request: Request) -> Response:
    return await _act(request, _decide)


def _close(visit: Visit, user: User, form: dict[str, str], period: str, pool: str) -> str:
    rules.require_role(user, Role.ADMIN)
    reason = form.get("reason", "")
    if not reason.strip():
        text = visit.speaker.gettext("Give the reason for closing the period.")
        raise forms.FieldErrors({"close-reason": text})
    services = visit.services
    try:
        acc.close_period(
            services.uow(), user, services.clock(), period, reason, form.get("force") == "yes",
            calendar=services.settings.calendar, clock=services.clock,
        )  # fmt: skip
    except (AllocatorError, AccountingError) as exc:
        raise forms.FieldErrors({"close-force": forms.reason(exc)}) from None
    return "closed"


@router.post("/quarter/close")
async def close(request: Request) -> Response:
    return await _act(request, _close)


# --- the report ---------------------------------------------------------------------------


def _report(visit: Visit, user: User, period: str) -> Any:
    services = visit.services
    return acc.report(
        services.uow(read_only=True), user, period,
        now=services.clock(), calendar=services.settings.calendar,
    )  # fmt: skip


@router.get("/reports/{name}")
async def report(
    request: Request,
    name: str,
    done: str = "",
    pool: str = "",
    number: int = Query(1, alias="page"),
) -> Response:
    """The report of one pool at a time, 50 project rows a page (the downloads: every row)."""
    visit = await visit_of(request)
    period, _dot, fmt = name.partition(".")
    label = _label(visit, period)
    found = await run_in_threadpool(_report, visit, visit.user, label)
    if fmt:
        return _download(found, fmt)
    pools = found.pools()
    shown = next((r for r in pools if r.pool == pool), pools[0] if pools else None)
    if pool and (shown is None or shown.pool != pool):
        raise NotFound("pool", pool)
    rows = [r for r in found.rows if shown and r.pool == shown.pool and r.level == "project"]
    projects, number, pages = paginate(rows, number)
    _ = visit.speaker.gettext
    return page(
        visit, "report.html", title=_("Report %(period)s") % {"period": label},
        report=found, period=label, done=done if done.isalpha() else "", pools=pools,
        pool_row=shown, projects=projects, page_number=number, pages=pages,
    )  # fmt: skip


def _download(found: Any, fmt: str) -> Response:
    """The report as a file of its format (always an attachment: a report's own HTML has its
    own style, which the portal's pages never inline)."""
    if fmt not in REPORT_MEDIA:
        raise NotFound("format", fmt)
    text, media, disposition = present_report.rendered(found, fmt)
    attachment = "attachment;" + disposition.split(";", 1)[1]
    headers = NO_STORE | {"Content-Disposition": attachment}
    return Response(text, media_type=f"{media}; charset=utf-8", headers=headers)
