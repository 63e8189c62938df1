"""Moving hours: pool -> chair -> project, back (release), sideways (transfer), corrections.

Every move is one ledger entry, written after ``prepare_period`` (pool locked, period open).
"""

from __future__ import annotations

from datetime import datetime

from allocator import rules
from allocator.errors import InvalidInput, OverCommit
from allocator.ledger import balance, headroom, pool_capacity, received
from allocator.model import (
    ADJUSTMENTS,
    EntryKind,
    LedgerEntry,
    Pool,
    Project,
    User,
    chair_account,
    pool_account,
    project_account,
)
from allocator.periods import Calendar
from allocator.ports import UnitOfWork
from allocator.services._common import ADMIN, entry, get_chair, get_pool, get_project
from allocator.services._guards import prepare_period

# --- pool -> chair -> project ------------------------------------------------------------------


def _draw_to_chair(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool: Pool,
    period: str,
    chair_id: str,
    amount: int,
    reason: str,
    request_id: int | None = None,
    reference: str = "",
) -> LedgerEntry:
    """pool -> chair, within the pool's capacity times its over-commit factor."""
    flows = uow.ledger.flows(pool.id, period)
    acct = pool_account(pool.id)
    available = headroom(balance(flows, acct), pool_capacity(flows, pool.id), pool.overcommit_milli)
    if amount > available:
        raise OverCommit(
            f"pool {pool.id} in {period}",
            wanted=amount,
            available=max(available, 0),
            unit=pool.unit,
        )
    return uow.ledger.append(
        entry(
            EntryKind.ALLOCATE,
            pool.id,
            period,
            acct,
            chair_account(chair_id),
            amount,
            actor,
            now,
            reason,
            request_id,
            reference,
        )
    )


def allocate_to_chair(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    chair_id: str,
    period: str,
    amount: int,
    reason: str,
    *,
    calendar: Calendar,
) -> LedgerEntry:
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount)
    checked = calendar.check(period, now)
    if not reason.strip():
        raise InvalidInput("reason", "an allocation needs a reason")
    with uow:
        pool = get_pool(uow, pool_id)
        get_chair(uow, chair_id)
        prepare_period(uow, actor, now, pool, checked)
        allocated = _draw_to_chair(uow, actor, now, pool, period, chair_id, amount, reason)
        uow.commit()
    return allocated


def _chair_headroom(uow: UnitOfWork, pool: Pool, period: str, chair_id: str) -> int:
    """What the chair may still give its projects in the pool and period (may be negative)."""
    flows = uow.ledger.flows(pool.id, period)
    acct = chair_account(chair_id)
    return headroom(balance(flows, acct), received(flows, acct), pool.overcommit_milli)


def chair_to_project(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool: Pool,
    period: str,
    project: Project,
    amount: int,
    reason: str,
    request_id: int | None = None,
    draw_from_pool: bool = False,
    reference: str = "",
) -> list[LedgerEntry]:
    """chair -> project; with ``draw_from_pool`` a shortfall is first drawn pool -> chair.
    Called after ``prepare_period``. ``reference`` is written on every entry (``round:N``)."""
    entries = []
    available = _chair_headroom(uow, pool, period, project.chair_id)
    if amount > available:
        if not draw_from_pool:
            raise OverCommit(
                f"chair {project.chair_id} in {pool.id}/{period}",
                wanted=amount,
                available=max(available, 0),
                unit=pool.unit,
            )
        shortfall = amount - max(available, 0)
        drawn_for = f"drawn for project {project.id}: {reason}"
        entries.append(
            _draw_to_chair(
                uow,
                actor,
                now,
                pool,
                period,
                project.chair_id,
                shortfall,
                drawn_for,
                request_id,
                reference,
            )
        )
    allocation = entry(
        EntryKind.ALLOCATE,
        pool.id,
        period,
        chair_account(project.chair_id),
        project_account(project.id),
        amount,
        actor,
        now,
        reason,
        request_id,
        reference,
    )
    entries.append(uow.ledger.append(allocation))
    return entries


def allocate_to_project(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    project_id: str,
    period: str,
    amount: int,
    reason: str,
    draw_from_pool: bool = False,
    *,
    calendar: Calendar,
) -> list[LedgerEntry]:
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount)
    checked = calendar.check(period, now)
    if not reason.strip():
        raise InvalidInput("reason", "an allocation needs a reason")
    with uow:
        pool = get_pool(uow, pool_id)
        project = get_project(uow, project_id)
        rules.check_period_in_project(project, checked)
        prepare_period(uow, actor, now, pool, checked)
        entries = chair_to_project(
            uow, actor, now, pool, period, project, amount, reason, draw_from_pool=draw_from_pool
        )
        uow.commit()
    return entries


# --- release, transfer, adjustment ----------------------------------------------------------------


def _held(uow: UnitOfWork, pool: Pool, period: str, project: Project) -> int:
    """The project's balance in the pool and period."""
    return balance(uow.ledger.flows(pool.id, period), project_account(project.id))


def release(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    project_id: str,
    period: str,
    amount: int,
    reason: str,
    *,
    calendar: Calendar,
) -> LedgerEntry:
    """A project hands unused hours back to its chair."""
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount)
    checked = calendar.check(period, now)
    if not reason.strip():
        raise InvalidInput("reason", "an allocation needs a reason")
    with uow:
        pool = get_pool(uow, pool_id)
        project = get_project(uow, project_id)
        prepare_period(uow, actor, now, pool, checked)
        held = _held(uow, pool, period, project)
        if amount > held:
            raise OverCommit(
                f"project {project.id} in {pool.id}/{period}",
                wanted=amount,
                available=held,
                unit=pool.unit,
            )
        released = uow.ledger.append(
            entry(
                EntryKind.RELEASE,
                pool.id,
                period,
                project_account(project.id),
                chair_account(project.chair_id),
                amount,
                actor,
                now,
                reason,
            )
        )
        uow.commit()
    return released


def transfer(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    period: str,
    from_project: str,
    to_project: str,
    amount: int,
    reason: str,
    *,
    calendar: Calendar,
) -> LedgerEntry:
    """Move hours between two projects of one chair."""
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount)
    checked = calendar.check(period, now)
    if not reason.strip():
        raise InvalidInput("reason", "a transfer needs a reason")
    with uow:
        pool = get_pool(uow, pool_id)
        source = get_project(uow, from_project, field="from_project")
        target = get_project(uow, to_project, field="to_project")
        if source.id == target.id:
            raise InvalidInput("to_project", "must differ from from_project")
        if source.chair_id != target.chair_id:
            raise InvalidInput("to_project", "transfers stay inside one chair")
        prepare_period(uow, actor, now, pool, checked)
        held = _held(uow, pool, period, source)
        if amount > held:
            raise OverCommit(
                f"project {source.id} in {pool.id}/{period}",
                wanted=amount,
                available=max(held, 0),
                unit=pool.unit,
            )
        moved = uow.ledger.append(
            entry(
                EntryKind.TRANSFER,
                pool.id,
                period,
                project_account(source.id),
                project_account(target.id),
                amount,
                actor,
                now,
                reason,
            )
        )
        uow.commit()
    return moved


def adjust(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    project_id: str,
    period: str,
    amount: int,
    reason: str,
    reference: str = "",
    kind: EntryKind = EntryKind.ADJUSTMENT,
    *,
    calendar: Calendar,
) -> LedgerEntry:
    """A signed correction: positive credits the project, negative debits it."""
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount, allow_negative=True)
    checked = calendar.check(period, now)
    if not reason.strip():
        raise InvalidInput("reason", "an adjustment needs a reason")
    with uow:
        pool = get_pool(uow, pool_id)
        project = get_project(uow, project_id)
        prepare_period(uow, actor, now, pool, checked)
        acct = project_account(project.id)
        source, target = (ADJUSTMENTS, acct) if amount > 0 else (acct, ADJUSTMENTS)
        correction = uow.ledger.append(
            entry(
                kind,
                pool.id,
                period,
                source,
                target,
                abs(amount),
                actor,
                now,
                reason,
                reference=reference,
            )
        )
        uow.commit()
    return correction
