"""``create_portal(services)``: the portal, the third face (``connectors.composition`` serves it
under ``/portal/``).

Server-rendered pages (``templates/``), one style sheet and one small script (``static/``),
every asset served from the package: the pages work on a network without internet. Each page
calls the same use cases as the API and the CLI, through the same unit of work.

Answers carry their own ``Content-Security-Policy``: scripts, styles, images and form
targets from this origin only, nothing inline, no framing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from allocator.errors import Forbidden, InvalidInput, NotFound
from connectors import routing
from connectors.bootstrap import Services, build
from connectors.db.web_sessions import SqlWebSessions
from connectors.settings import Settings
from connectors.web import (
    i18n,
    pages_admin,
    pages_enforce,
    pages_jobs,
    pages_ledger,
    pages_lending,
    pages_notify,
    pages_ops,
    pages_org,
    pages_projects,
    pages_quarter,
    pages_queue,
    pages_regulation,
    pages_requests,
    pages_rounds,
    pages_tokens,
    pages_users,
    signin,
    signin_oidc,
)
from connectors.web.render import page
from connectors.web.visit import (
    PATH,
    FormRefused,
    SignInRequired,
    anonymous_visit,
    form_of,
    visit_of,
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " form-action 'self'{}; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
Scope = MutableMapping[str, Any]
ASGIApp = Callable[..., Awaitable[None]]


class PortalHeaders:
    """The portal's security headers on every answer (ASGI middleware)."""

    def __init__(self, app: ASGIApp, form_targets: tuple[str, ...] = ()) -> None:
        self.app = app
        # the sign-out form goes on to an OpenID provider's logout: its origin is allowed
        csp = CSP.format("".join(f" {origin}" for origin in form_targets))
        self.headers = ((b"content-security-policy", csp.encode()), *HEADERS)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self.headers if n not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


def create_portal(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    services = services or build(settings or Settings())
    app = FastAPI(title="gpuhours portal", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.services = services
    app.state.sessions = SqlWebSessions(
        services.engine,
        idle=timedelta(minutes=services.settings.portal_idle_minutes),
        lifetime=timedelta(hours=services.settings.portal_session_hours),
    )
    app.mount("/static", StaticFiles(packages=[("connectors.web", "static")]), name="static")
    app.include_router(signin.router)
    app.include_router(signin_oidc.router)
    app.include_router(pages_projects.router)
    app.include_router(pages_jobs.router)
    app.include_router(pages_requests.router)
    app.include_router(pages_tokens.router)
    app.include_router(pages_users.router)
    app.include_router(pages_queue.router)
    app.include_router(pages_admin.router)
    app.include_router(pages_enforce.router)
    app.include_router(pages_ops.router)
    app.include_router(pages_ledger.router)
    app.include_router(pages_notify.router)
    app.include_router(pages_org.router)
    app.include_router(pages_quarter.router)
    app.include_router(pages_rounds.router)
    app.include_router(pages_lending.router)
    app.include_router(pages_regulation.router)
    _home_and_language(app)
    _errors(app)
    origins = tuple(sorted({origin(p.issuer) for p in services.identity_providers.values()}))
    app.add_middleware(PortalHeaders, form_targets=origins)
    return routing.build_now(app)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _home_and_language(app: FastAPI) -> None:
    @app.get("/")
    async def home(request: Request) -> Response:
        visit = await visit_of(request)
        target = signin.HOME if visit.session is not None else "/signin"
        return RedirectResponse(visit.base + target, status_code=303)

    @app.post("/language")
    async def language(request: Request) -> Response:
        """Switch the language; remembered a year in a cookie."""
        visit = await visit_of(request)
        form = await form_of(visit)
        lang = form.get("lang", "")
        target = form.get("next", "")
        if target.startswith(visit.base + "/"):
            target = target[len(visit.base) :]
        response = RedirectResponse(visit.base + signin.safe_next(target), status_code=303)
        if lang in i18n.LANGUAGES:
            response.set_cookie(
                i18n.COOKIE,
                lang,
                max_age=365 * 86400,
                path=PATH,
                samesite="lax",
                secure=visit.secure(),
            )
        return response


def _errors(app: FastAPI) -> None:
    """Refusals as pages. An unknown or invisible thing is one "not found" page that names
    nothing (a researcher learns nothing of another chair's projects)."""

    async def message(request: Request, status: int, which: str) -> Response:
        visit = await visit_of(request)
        _ = visit.speaker.gettext
        title, text = {
            "refused": (_("Refused"), _("This request is refused.")),
            "not found": (
                _("Page not found"),
                _("This page does not exist, or you may not see it."),
            ),
            "forbidden": (_("Not allowed"), _("Your role does not allow this.")),
            "form": (
                _("Form refused"),
                _(
                    "This form was refused: it expired or came from elsewhere. Reload the page"
                    " and try again."
                ),
            ),
        }[which]
        link = (f"{visit.base}/", _("Back to the portal's home page"))
        home = f"{visit.base}/"
        return page(
            visit, "message.html", status, title=title, message=text, link=link, here_full=home
        )

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        visit = await visit_of(request)
        return RedirectResponse(signin.signin_url(visit), status_code=303)

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StarletteHTTPException) and exc.status_code != 404:
            return await message(request, exc.status_code, "refused")
        return await message(request, 404, "not found")

    async def refused(request: Request, exc: Exception) -> Response:
        return await message(request, 400, "refused")

    async def forbidden(request: Request, exc: Exception) -> Response:
        return await message(request, 403, "forbidden")

    async def refused_form(request: Request, exc: Exception) -> Response:
        status = exc.status if isinstance(exc, FormRefused) else 403
        return await message(request, status, "form")

    async def unavailable(request: Request, exc: Exception) -> Response:
        visit = anonymous_visit(request)
        _ = visit.speaker.gettext
        return page(
            visit,
            "message.html",
            503,
            title=_("Unavailable"),
            message=_("The database does not answer; try again in a minute."),
            link=None,
        )

    app.add_exception_handler(SignInRequired, sign_in_first)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(StarletteHTTPException, not_found)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(RequestValidationError, refused)
    app.add_exception_handler(InvalidInput, refused)
    app.add_exception_handler(FormRefused, refused_form)
    app.add_exception_handler(OperationalError, unavailable)
