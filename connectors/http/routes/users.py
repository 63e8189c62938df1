"""``/me`` and ``/users``."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Response
from pydantic import BaseModel

from allocator import services as svc
from allocator.model import User
from connectors.db.identities import SqlIdentities
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, NowDep, ServicesDep, UowDep
from connectors.http.pages import Page, PageQ, paged
from connectors.identity import accounts

router = APIRouter(prefix="/api/v1")


@router.get("/me", tags=["users"])
def me(actor: ActorDep) -> s.UserOut:
    return _user(actor)


def _user(u: User) -> s.UserOut:
    return s.UserOut(username=u.username, role=u.role, full_name=u.full_name, email=u.email)


# --- users ------------------------------------------------------------------------------


@router.get("/users", tags=["users"])
def list_users(uow: UowDep, actor: ActorDep, pages: PageQ) -> Page[s.UserOut]:
    """Every user, by username."""
    return paged("users", svc.list_users(uow, actor), lambda u: (u.username,), pages, _user)


@router.post("/users", status_code=201, tags=["users"])
def create_user(
    body: s.UserIn, uow: UowDep, actor: ActorDep, now: NowDep, response: Response
) -> s.UserOut:
    user = svc.create_user(
        uow, actor, now, User(body.username, body.role, body.full_name, body.email)
    )
    response.headers["Location"] = f"/api/v1/users/{quote(user.username)}"
    return _user(user)


@router.get("/users/{username}", tags=["users"])
def get_user(username: str, uow: UowDep, actor: ActorDep) -> s.UserOut:
    """One user (staff: every one; anybody else: themselves)."""
    return _user(svc.get_user(uow, actor, username))


class UserStateOut(BaseModel):
    username: str
    #: ``False``: deactivated (no sign-in; its tokens and sessions refused)
    active: bool


@router.post("/users/{username}/deactivate", tags=["users"])
def deactivate_user(
    username: str, services: ServicesDep, actor: ActorDep, now: NowDep
) -> UserStateOut:
    """Deactivate a user (admin): no sign-in any more, and its tokens and portal sessions are
    refused from the next request on. Audited (``user.deactivated``)."""
    return _set_active(services, actor, now, username, False)


@router.post("/users/{username}/reactivate", tags=["users"])
def reactivate_user(
    username: str, services: ServicesDep, actor: ActorDep, now: NowDep
) -> UserStateOut:
    """Undo a deactivation (admin); audited (``user.reactivated``)."""
    return _set_active(services, actor, now, username, True)


def _set_active(
    services: ServicesDep, actor: User, now: NowDep, username: str, active: bool
) -> UserStateOut:
    accounts.set_active(SqlIdentities(services.engine), actor, now, username, active)
    return UserStateOut(username=username, active=active)
