"""What every use case shares: the role sets, the lookups (a 404 naming the field), the audit
trail and the shape of a ledger entry."""

from __future__ import annotations

from datetime import datetime

from allocator import notices, rules
from allocator.errors import NotFound
from allocator.model import (
    AllocationRequest,
    AuditEvent,
    Chair,
    EntryKind,
    LedgerEntry,
    Pool,
    Project,
    Role,
    User,
)
from allocator.ports import UnitOfWork

ADMIN = (Role.ADMIN,)
STAFF = (Role.ADMIN, Role.ENGINEER)


def get_pool(uow: UnitOfWork, pool_id: str, field: str = "pool_id") -> Pool:
    pool = uow.pools.get(pool_id)
    if pool is None:
        raise NotFound("pool", pool_id, field=field)
    return pool


def get_chair(uow: UnitOfWork, chair_id: str, field: str = "chair_id") -> Chair:
    chair = uow.chairs.get(chair_id)
    if chair is None:
        raise NotFound("chair", chair_id, field=field)
    return chair


def get_project(
    uow: UnitOfWork, project_id: str, actor: User | None = None, field: str = "project_id"
) -> Project:
    """A project the actor may see; an invisible one reads as unknown (no existence leak)."""
    project = uow.projects.get(project_id)
    if project is None or (actor is not None and not rules.can_see_project(actor, project)):
        raise NotFound("project", project_id, field=field)
    return project


def get_request(uow: UnitOfWork, request_id: int, actor: User) -> AllocationRequest:
    """A request of a project the actor may see; any other reads as an unknown request, named
    by the id the caller gave and nothing else (not its project)."""
    request = uow.requests.get(request_id)
    project = None if request is None else uow.projects.get(request.project_id)
    if request is None or project is None or not rules.can_see_project(actor, project):
        raise NotFound("request", request_id, field="request_id")
    return request


def record(
    uow: UnitOfWork, actor: User, now: datetime, action: str, subject: str, detail: str
) -> None:
    """An audit event: every change that is not an amount leaves one."""
    uow.audit.append(AuditEvent(actor.username, now, action, subject, detail))


def tell(
    uow: UnitOfWork,
    event: notices.Event,
    request: AllocationRequest,
    project: Project | None = None,
) -> None:
    """Write a request's event to the outbox, in the caller's transaction: its requester and
    PI (and, for a submission, the site's admins) each get one notice."""
    if project is None:
        project = get_project(uow, request.project_id)
    admins: tuple[str, ...] = ()
    if event.kind is notices.Kind.REQUEST_SUBMITTED:
        admins, _ = notices.staff(uow.users.list())
    uow.notices.add(notices.notices(event, notices.request_people(request, project, admins)))


def entry(
    kind: EntryKind,
    pool_id: str,
    period: str,
    source: str,
    target: str,
    amount: int,
    actor: User,
    now: datetime,
    reason: str,
    request_id: int | None = None,
    reference: str = "",
) -> LedgerEntry:
    """A ledger entry written by ``actor`` at ``now``."""
    return LedgerEntry(
        kind,
        pool_id,
        period,
        source,
        target,
        amount,
        actor.username,
        now,
        reason,
        request_id,
        reference,
    )


def mine(actor: User) -> str | None:
    """The member filter of project reads: ``None`` (every project) for staff."""
    return None if rules.can_read_everything(actor) else actor.username
