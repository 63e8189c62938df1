"""``create_app(settings)``: the FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from connectors import metrics, routing
from connectors.bootstrap import Services, build
from connectors.db import delivery_queue as queue
from connectors.db.migrate import current_revision, head_revision
from connectors.http import (
    access_log,
    docs,
    enforcement_routes,
    errors,
    faults,
    idempotency,
    identity_routes,
    lending_routes,
    openapi,
    quarter_routes,
    regulation_routes,
    round_routes,
    token_routes,
    usage_routes,
)
from connectors.http.deps import reject_nul_characters
from connectors.http.headers import SecurityHeaders
from connectors.http.routes import routers
from connectors.settings import Settings

DESCRIPTION = """GPU-hours allocation and job accounting for the IA Grand Est ENACT cluster.

Authenticate with `Authorization: Bearer <token>` (mint one with `gpuhours token create`).
Amounts are given in hours and returned both in hours and in integer seconds.
"""


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    services = services or build(settings or Settings())
    app = FastAPI(
        title="gpuhours",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served from the installed package: connectors/http/docs.py
        redoc_url=None,
        dependencies=[Depends(reject_nul_characters)],
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.services = services
    access_log.install()  # no credential-carrying query string in uvicorn's access log
    # Middleware, innermost first: database faults as JSON answers (retrying a lost connection
    # once), the latency histogram (which then sees their status), the security headers.
    faults.track_commits(services.engine)
    app.add_middleware(faults.DatabaseFaults)
    idempotency.install(app, services)  # Idempotency-Key on POSTs, just outside the faults
    metrics.install(app, services)  # GET /metrics and the request latency histogram
    app.add_middleware(SecurityHeaders)
    errors.install(app)
    for router in routers:
        app.include_router(router)
    app.include_router(token_routes.router)
    app.include_router(identity_routes.router)
    app.include_router(usage_routes.router)
    app.include_router(quarter_routes.router)
    app.include_router(round_routes.router)
    app.include_router(lending_routes.router)
    app.include_router(regulation_routes.router)
    app.include_router(enforcement_routes.router)

    _document(app, services)
    docs.install(app)
    _health(app, services)
    return routing.build_now(app)


def _health(app: FastAPI, services: Services) -> None:
    """``/healthz`` (the process is up) and ``/readyz`` (the database answers, at head)."""

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "not ready"}})
    def readyz() -> Any:
        """The database answers and its schema is at the newest migration; otherwise 503 with
        ``Retry-After`` and the reason (``"the database refuses connections"``, ...)."""
        retry = {"Retry-After": str(faults.RETRY_AFTER)}
        try:
            with services.reader.connect() as conn:
                conn.execute(text("SELECT 1"))
            current, head = current_revision(services.reader), head_revision(services.reader)
        except Exception as exc:  # the database is the thing being probed
            body = {"status": "unavailable", "reason": faults.why_unavailable(exc)}
            return JSONResponse(body, 503, headers=retry)
        if current != head:
            return JSONResponse(
                {"status": "migrations pending", "current": current, "head": head}, 503, retry
            )
        ready: dict[str, Any] = {"status": "ready", "revision": current}
        if services.settings.notifications:
            ready["notifications"] = _notifications(services)
        return ready


def _notifications(services: Services) -> dict[str, Any]:
    """The channels' health, from the latest attempts (whichever process sent them): ``ok`` or
    the last error of each target, and how many deliveries are parked. The API stays ready:
    a broken relay delays e-mails, it does not stop the service."""
    with services.read_session_factory() as session:
        targets = queue.health(session)
        counts = queue.counts(session)
    parked = sum(n for (_, state), n in counts.items() if state == "parked")
    return {"targets": targets, "parked": parked}


def _document(app: FastAPI, services: Services) -> None:
    """The generated document, completed (:func:`openapi.complete`): built once, and again
    when the years the site accepts move on (a new year)."""
    generate = app.openapi
    built_for: list[str] = []

    def document() -> dict[str, Any]:
        calendar, now = services.settings.calendar, services.clock()
        pattern = calendar.label_pattern(now)
        if app.openapi_schema is None or built_for != [pattern]:
            app.openapi_schema = None
            periods = (pattern, openapi.period_description(calendar, now))
            app.openapi_schema = openapi.complete(generate(), periods)
            built_for[:] = [pattern]
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-worker serving: settings from the environment."""
    return create_app(Settings())
