"""FastAPI dependencies, named as types: the services, the acting user, the time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from allocator.errors import Forbidden, InvalidInput
from allocator.model import Role, User
from allocator.periods import Calendar
from connectors.bootstrap import Services
from connectors.db.uow import SqlUnitOfWork
from connectors.http.errors import RequestRefused
from connectors.throttle import client_key

_bearer = HTTPBearer(auto_error=False, description="API token: `gpuhours token create`")


async def reject_nul_characters(request: Request) -> None:
    """PostgreSQL text cannot hold NUL: refuse it in the path and the query string."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if "\x00" in name or "\x00" in str(value):
            field = "query" if "\x00" in name else name
            raise InvalidInput(field, "must not contain NUL (\\x00) characters")


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_uow(services: ServicesDep, request: Request) -> SqlUnitOfWork:
    """GET and HEAD are safe methods: their unit of work only reads (a deferred snapshot on
    SQLite, beside the writer; ``READ ONLY`` on PostgreSQL). Every other method may move
    hours: its unit of work takes the write lock first (``BEGIN IMMEDIATE`` on SQLite)."""
    return services.uow(read_only=request.method in ("GET", "HEAD"))


async def get_now(services: ServicesDep) -> datetime:
    return services.clock()


async def authenticate(request: Request, services: Services, credentials: str | None) -> User:
    """The user behind a bearer token, for any route (the API's, ``/metrics``).

    A client address with too many recent failures gets 429 before any look-up
    (``connectors.throttle``); the look-up itself (one indexed query, no cache, so a
    revocation holds at once on every replica) runs in the thread pool, off the event loop.
    """
    if credentials is None:
        raise HTTPException(
            401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    client = client_key(request.client.host if request.client else None)
    wait = services.auth_throttle.retry_after(client)
    if wait is not None:
        raise RequestRefused(
            429,
            "authorization",
            f"authorization: too many failed authentications from this address; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    user = await run_in_threadpool(services.authenticator.authenticate, credentials)
    if user is None:
        services.auth_throttle.failed(client)
        raise HTTPException(
            401,
            "a valid bearer token is required (unknown, expired or revoked)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


async def get_calendar(services: ServicesDep) -> Calendar:
    """The site's periods: every period label a request gives is checked against it."""
    return services.settings.calendar


async def get_actor(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    token = credentials.credentials if credentials is not None else None
    user = await authenticate(request, services, token)
    if user.role is Role.SCRAPER:
        raise Forbidden(f"{user.username} is scraper; a scrape token reads /metrics only")
    return user


async def get_units(services: ServicesDep) -> Mapping[str, str]:
    """Each pool's unit by pool id: every amount in an answer says its unit (kept by the
    process, read again only for a pool it has not seen: :mod:`connectors.pool_units`)."""
    return services.pool_units


UnitsDep = Annotated[Mapping[str, str], Depends(get_units)]
UowDep = Annotated[SqlUnitOfWork, Depends(get_uow)]
NowDep = Annotated[datetime, Depends(get_now)]
CalendarDep = Annotated[Calendar, Depends(get_calendar)]
ActorDep = Annotated[User, Depends(get_actor)]
