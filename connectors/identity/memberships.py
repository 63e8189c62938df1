"""The group-claim -> project rule: at a portal sign-in, the projects a provider's
``project_rules`` give someone by their claims are joined through the same use case an
administrator's "add member" calls (``allocator.services.add_member``), as the actor
``oidc:<provider>``: audited ``project.member_added``, nothing when already a member.

Memberships are only added: removing someone stays the PI's or an administrator's, so a group
left at the university does not silently take hours away mid-quarter. A rule naming a project
gpuhours does not know is logged and skipped; the sign-in goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from allocator import services as svc
from allocator.errors import NotFound
from allocator.model import Role, User
from allocator.ports import UnitOfWork

log = logging.getLogger(__name__)


def rule_actor(provider: str) -> User:
    """Who the rules act as: the provider, with the right to add members."""
    return User(f"oidc:{provider}", Role.ADMIN)


def join_projects(
    uow: Callable[[], UnitOfWork],
    provider: str,
    username: str,
    projects: Sequence[str],
    now: datetime,
) -> list[str]:
    """Make ``username`` a member of each of ``projects``; the ones newly joined."""
    actor = rule_actor(provider)
    joined: list[str] = []
    for project_id in projects:
        try:
            if _member_already(uow(), project_id, username):
                continue
            svc.add_member(uow(), actor, now, project_id, username)
        except NotFound as exc:
            log.warning("project rule of %s names an unknown %s", provider, exc)
            continue
        joined.append(project_id)
    if joined:
        log.info("project rules of %s: %s joined %s", provider, username, ", ".join(joined))
    return joined


def _member_already(uow: UnitOfWork, project_id: str, username: str) -> bool:
    with uow:
        return svc.get_project(uow, project_id).has_member(username)
