"""FastAPI dependencies, named as types: the services, the acting user, the time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from allocator.errors import InvalidInput
from allocator.model import User
from connectors.bootstrap import Services
from connectors.db.uow import SqlUnitOfWork

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


# Async on purpose: FastAPI would run a sync dependency in the thread pool, one hop each.
# The token check is a dictionary look-up; only a cache miss (every ``ttl`` seconds per
# token) costs one indexed query.
async def get_actor(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    unauthorized = HTTPException(
        401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
    )
    if credentials is None:
        raise unauthorized
    user = services.authenticator.authenticate(credentials.credentials)
    if user is None:
        raise unauthorized
    return user


UowDep = Annotated[SqlUnitOfWork, Depends(get_uow)]
NowDep = Annotated[datetime, Depends(get_now)]
ActorDep = Annotated[User, Depends(get_actor)]
