"""Who may sign in: the administrators' list of users with their linked identities, and
deactivating or reactivating one. One set of rules for every face (API ``POST
/api/v1/users/{name}/deactivate``, the portal's users page): administrators only, never
oneself, an unknown user is a 404 naming the field. Audited by ``SqlIdentities``."""

from __future__ import annotations

from datetime import datetime

from allocator import rules
from allocator.errors import InvalidInput, NotFound
from allocator.model import Role, User
from connectors.db.identities import Person, SqlIdentities


def people(identities: SqlIdentities, actor: User) -> list[Person]:
    """Every user with their identities and state (administrators)."""
    rules.require_role(actor, Role.ADMIN)
    return identities.people()


def set_active(
    identities: SqlIdentities, actor: User, now: datetime, username: str, active: bool
) -> None:
    """Deactivate (``active=False``) or reactivate ``username``."""
    rules.require_role(actor, Role.ADMIN)
    if username == actor.username and not active:
        raise InvalidInput("username", "an administrator cannot deactivate themselves")
    if not identities.set_active(username, active, actor.username, now):
        raise NotFound("user", username, field="username")
