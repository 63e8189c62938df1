"""What comes before an amount moves in a pool and period: the pool's lock, the period open
(and kept so by the close lock until commit), a local pool's capacity deposited."""

from __future__ import annotations

from datetime import datetime

from allocator import rules
from allocator.errors import PeriodIsClosed
from allocator.model import EXTERNAL, EntryKind, LedgerEntry, Pool, PoolKind, User, pool_account
from allocator.periods import Period
from allocator.ports import UnitOfWork
from allocator.services._common import entry


def prepare_period(uow: UnitOfWork, actor: User, now: datetime, pool: Pool, period: Period) -> None:
    """Before an amount moves in a pool and period: the period lies in the pool's validity, the
    pool is locked, the period is open (and stays so until commit), a local pool has its
    capacity deposited."""
    rules.check_period_in_pool(pool, period)
    uow.pools.lock(pool.id)
    require_open(uow, period.label)
    ensure_local_capacity(uow, actor, now, pool, period)


def require_open(uow: UnitOfWork, period: str, field: str = "period", hint: str = "") -> None:
    """Refuse a write into a closed period.

    "Closed" is read under the close lock, held to the end of the transaction: a close (which
    takes that lock exclusively) either waits for this write, or this write sees the close.
    Locks are taken in one order everywhere — the pool's, then the close lock — so writers and
    a close never deadlock.
    """
    uow.ledger.lock_closing()
    if uow.ledger.is_closed(period):
        raise PeriodIsClosed(period, field=field, hint=hint)


def ensure_local_capacity(
    uow: UnitOfWork, actor: User, now: datetime, pool: Pool, period: Period
) -> LedgerEntry | None:
    """A local pool's capacity deposit for the period, the first time it is used; called under
    the pool's lock, the period checked open (``prepare_period``)."""
    if pool.kind is not PoolKind.LOCAL:
        return None
    reference = f"capacity:{period.label}"
    if uow.ledger.has_reference(pool.id, period.label, reference):
        return None
    return uow.ledger.append(
        entry(
            EntryKind.DEPOSIT,
            pool.id,
            period.label,
            EXTERNAL,
            pool_account(pool.id),
            rules.local_capacity(pool, period),
            actor,
            now,
            "local capacity for the period (inventory x hours x availability)",
            reference=reference,
        )
    )
