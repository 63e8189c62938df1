"""Pages from the package's Jinja2 templates (``connectors/web/templates``), HTML-escaped.

Every template gets the visit's translations (``_``, ``ngettext``), formats (``num``,
``hours``, ``day``, ``moment``), the signed-in ``user`` (or ``None``), the ``csrf`` token of
its forms, the portal's ``base`` path and the navigation.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, Response

from connectors.web import i18n
from connectors.web.forms import typed_hours
from connectors.web.visit import Visit

T = TypeVar("T")

#: Cache-Control of every page: a page shows one person's figures and is never stored.
NO_STORE = {"Cache-Control": "no-store"}


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("connectors.web", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


#: Rows of a long table shown a page (the rest on the next pages, as people read them).
PAGE_ROWS = 50


def paginate(rows: Sequence[T], number: int, size: int = PAGE_ROWS) -> tuple[list[T], int, int]:
    """``(the rows of page number, that page's number, the number of pages)``: a number out of
    range is the nearest page."""
    pages = max(1, -(-len(rows) // size))
    number = min(max(number, 1), pages)
    return list(rows[(number - 1) * size : number * size]), number, pages


def nav(visit: Visit) -> list[tuple[str, str]]:
    """``(path, label)`` of the navigation, for the visitor's role."""
    if visit.session is None:
        return []
    _ = visit.speaker.gettext
    items = [
        ("/projects", _("My projects")),
        ("/requests", _("My requests")),
        ("/requests/new", _("Request hours")),
        ("/notifications", _("Notifications")),
        ("/tokens", _("API tokens")),
    ]
    if visit.is_staff:
        items += [
            ("/ingestion", _("Ingestion")),
            ("/unmapped", _("Unmapped accounts")),
            ("/burn", _("Burn rates")),
            ("/allocations", _("Allocations")),
            ("/journal", _("Journal")),
            ("/audit", _("Audit trail")),
            ("/enforcement", _("Enforcement")),
        ]
    if visit.is_admin:
        items += [
            ("/queue", _("Request queue")),
            ("/rounds", _("Allocation rounds")),
            ("/lending", _("Lending")),
            ("/regulation", _("Regulation")),
            ("/quarter", _("Quarter")),
            ("/pools", _("Pools")),
            ("/organisation", _("Chairs and projects")),
            ("/users", _("Users and sign-in")),
        ]
    return items


def page(visit: Visit, template: str, status: int = 200, **context: Any) -> Response:
    """The rendered ``template`` as an answer, with the visit's cookies."""
    speaker = visit.speaker
    here = visit.request.url.path[len(visit.base) :] or "/"
    values: dict[str, Any] = {
        "_": speaker.gettext,
        "ngettext": speaker.ngettext,
        "word": speaker.word,
        "num": speaker.number,
        "hours": speaker.hours,
        "typed_hours": typed_hours,
        "day": speaker.day,
        "moment": speaker.moment,
        "lang": speaker.lang,
        "languages": i18n.LANGUAGES,
        "user": visit.session.user if visit.session is not None else None,
        "csrf": visit.csrf(),
        "base": visit.base,
        "here": here,
        # where the language switch comes back to (an error page: the home page, so that a
        # "not found" page does not even repeat the path it was asked)
        "here_full": visit.request.url.path
        + (f"?{visit.request.url.query}" if visit.request.url.query else ""),
        "nav": nav(visit),
    }
    html = environment().get_template(template).render(values | context)
    return visit.finish(HTMLResponse(html, status, headers=NO_STORE))
