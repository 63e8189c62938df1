"""FastAPI dependencies, named as types: the services, the acting user, the time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from allocator.model import User
from connectors.bootstrap import Services
from connectors.db.uow import SqlUnitOfWork

_bearer = HTTPBearer(auto_error=False, description="API token: `gpuhours token create`")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_uow(services: ServicesDep) -> SqlUnitOfWork:
    return services.uow()


def get_now(services: ServicesDep) -> datetime:
    return services.clock()


def get_actor(
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
