"""Reads: the journal, the audit trail, and the chairs, projects and requests an actor may see."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from allocator import rules
from allocator.errors import NotFound
from allocator.model import (
    AllocationRequest,
    AuditEvent,
    Chair,
    LedgerEntry,
    Project,
    RequestState,
    User,
)
from allocator.periods import Calendar
from allocator.ports import Newest, UnitOfWork
from allocator.services._common import STAFF, mine


def journal(
    uow: UnitOfWork,
    actor: User,
    pool_id: str | None = None,
    period: str | None = None,
    account: str | None = None,
    request_id: int | None = None,
    *,
    now: datetime,
    calendar: Calendar,
    window: Newest | None = None,
) -> Sequence[LedgerEntry]:
    """Ledger entries, filtered (engineers and admins): all, oldest first, or one
    ``window`` of them, newest first."""
    rules.require_role(actor, *STAFF)
    if period is not None:
        calendar.check(period, now)
    with uow:
        return uow.ledger.entries(pool_id, period, account, request_id, window)


def audit_trail(
    uow: UnitOfWork, actor: User, subject: str | None = None, window: Newest | None = None
) -> list[AuditEvent]:
    """Audit events of one subject (``pool:nat``) or all (engineers and admins): all, oldest
    first, or one ``window`` of them, newest first."""
    rules.require_role(actor, *STAFF)
    with uow:
        return list(uow.audit.list(subject, window))


def list_projects(uow: UnitOfWork, actor: User, chair_id: str | None = None) -> list[Project]:
    with uow:
        return rules.visible_projects(actor, uow.projects.list(chair_id, mine(actor)))


def journal_entry(uow: UnitOfWork, actor: User, entry_id: int) -> LedgerEntry:
    """One ledger entry (engineers and admins, who read the journal)."""
    rules.require_role(actor, *STAFF)
    with uow:
        entry = uow.ledger.entry(entry_id)
    if entry is None:
        raise NotFound("entry", str(entry_id), field="entry_id")
    return entry


def chair(uow: UnitOfWork, actor: User, chair_id: str) -> Chair:
    """One chair of :func:`list_chairs` (the same rule: staff see every one, others those
    funding their projects); any other reads as unknown, named by the id the caller gave."""
    found = next((c for c in list_chairs(uow, actor) if c.id == chair_id), None)
    if found is None:
        raise NotFound("chair", chair_id, field="chair_id")
    return found


def list_chairs(uow: UnitOfWork, actor: User) -> list[Chair]:
    with uow:
        chairs = list(uow.chairs.list())
        if rules.can_read_everything(actor):
            return chairs
        funding = {p.chair_id for p in list_projects(uow, actor)}
        return [c for c in chairs if c.id in funding]


def list_requests(
    uow: UnitOfWork, actor: User, state: RequestState | None = None
) -> list[AllocationRequest]:
    with uow:
        if rules.can_read_everything(actor):
            return list(uow.requests.list(None, state))
        ids = [p.id for p in list_projects(uow, actor)]
        return list(uow.requests.list(ids, state))
