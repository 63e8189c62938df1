"""Pools of hours: their definition, grants, local capacity, rates and over-commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from allocator import rules
from allocator.errors import AlreadyExists, InvalidInput, PeriodIsClosed
from allocator.model import (
    EXTERNAL,
    MILLI,
    EntryKind,
    LedgerEntry,
    Pool,
    PoolKind,
    Rate,
    User,
    pool_account,
)
from allocator.periods import Calendar, Period, require_utc
from allocator.ports import UnitOfWork
from allocator.services._common import ADMIN, entry, get_pool, record
from allocator.services._guards import ensure_local_capacity, require_open

# --- definition -------------------------------------------------------------------------------


def create_pool(uow: UnitOfWork, actor: User, now: datetime, pool: Pool) -> Pool:
    rules.require_role(actor, *ADMIN)
    rules.check_pool_definition(pool)
    with uow:
        if uow.pools.get(pool.id) is not None:
            raise AlreadyExists("pool", pool.id, field="id")
        _check_routes_free(uow, pool)
        uow.pools.add(pool)
        record(uow, actor, now, "pool.created", f"pool:{pool.id}", f"{pool.kind.value} {pool.unit}")
        uow.commit()
    return pool


def create_pool_with_grant(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool: Pool,
    grant: int | None,
    *,
    calendar: Calendar,
) -> Pool:
    """A new pool and, for a national one, its initial grant (unit-seconds over its validity):
    one transaction, so no pool is left behind without its grant."""
    if grant is not None and pool.kind is PoolKind.LOCAL:
        raise InvalidInput("grant_hours", "a local pool has no grant; its capacity is its GPUs")
    with uow:
        created = create_pool(uow, actor, now, pool)
        if grant is not None:
            add_grant(
                uow,
                actor,
                now,
                created.id,
                grant,
                "initial grant",
                calendar=calendar,
                fields=("valid_from", "valid_until"),
            )
        uow.commit()
    return created


def list_pools(uow: UnitOfWork, actor: User) -> list[Pool]:
    """Every pool, by id (anyone may read the pools)."""
    with uow:
        return list(uow.pools.list())


def pool_units(uow: UnitOfWork) -> dict[str, str]:
    """Each pool's unit, by pool id: what every amount of the pool is counted in."""
    with uow:
        return dict(uow.pools.units())


def _check_routes_free(uow: UnitOfWork, pool: Pool) -> None:
    """A cluster/partition draws from one pool only."""
    taken = {(r.cluster, r.partition): p.id for p in uow.pools.list() for r in p.routes}
    for route in pool.routes:
        owner = taken.get((route.cluster, route.partition))
        if owner is not None:
            where = route.cluster + (f"/{route.partition}" if route.partition else "")
            raise AlreadyExists("route", f"{where} (drawn by pool {owner})", field="routes")


# --- grants and capacity ------------------------------------------------------------------------


def add_grant(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    amount: int,
    reason: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    calendar: Calendar,
    fields: tuple[str, str] = ("start", "end"),
) -> list[LedgerEntry]:
    """Deposit a national grant, split by time over the site's periods of its window.

    The window lies in the periods this site counts (``calendar.bounds``), like every period
    label a person gives; else a 422 naming ``fields``' start or end (the window's, or the
    pool's validity when the grant has none).

    A window that covers a closed period is refused whole (409 naming the period): a grant is
    what the centre granted for its window, and depositing only the open periods' share would
    silently drop hours; the administrator gives a window that starts after the close.
    """
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount)
    if not reason.strip():
        raise InvalidInput("reason", "a grant needs a reason")
    with uow:
        pool = get_pool(uow, pool_id)
        start, end = _grant_window(pool, start, end)
        _inside_the_site(start, end, fields, now, calendar)
        uow.pools.lock(pool_id)
        parts = [(p, n) for p, n in rules.split_pro_rata(amount, start, end, calendar) if n]
        _refuse_closed(uow, [period for period, _ in parts])
        entries = [
            uow.ledger.append(
                entry(
                    EntryKind.DEPOSIT,
                    pool_id,
                    period.label,
                    EXTERNAL,
                    pool_account(pool_id),
                    share,
                    actor,
                    now,
                    reason,
                )
            )
            for period, share in parts
        ]
        uow.commit()
    return entries


def _grant_window(
    pool: Pool, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The grant's window: the one given, else the pool's validity; inside that validity."""
    start = require_utc(start, "start") if start else pool.valid_from
    end = require_utc(end, "end") if end else pool.valid_until
    if start is None or end is None:
        raise InvalidInput("start", "a grant needs a window (the pool has none)")
    if not pool.is_valid_over(start, end) or (
        (pool.valid_from and start < pool.valid_from)
        or (pool.valid_until and end > pool.valid_until)
    ):
        raise InvalidInput("start", "the grant window must lie inside the pool's validity")
    return start, end


def _inside_the_site(
    start: datetime, end: datetime, fields: tuple[str, str], now: datetime, calendar: Calendar
) -> None:
    first, last = calendar.bounds(now)
    span = f"this site's periods run from {first} to {last}"
    if start < first.start:
        raise InvalidInput(fields[0], f"{start.date()} is outside this site's periods: {span}")
    if end > last.end:
        raise InvalidInput(fields[1], f"{end.date()} is outside this site's periods: {span}")


def _refuse_closed(uow: UnitOfWork, periods: Sequence[Period]) -> None:
    """A grant's window covers no closed period (read under the close lock)."""
    uow.ledger.lock_closing()  # as in require_open: "closed" is read under the lock
    closed = [p for p in periods if uow.ledger.is_closed(p.label)]
    if closed:
        raise PeriodIsClosed(
            closed[0].label,
            field="start",
            hint="a grant's window must not cover a closed period; start it at"
            f" {closed[-1].end.isoformat()} or later",
        )


def open_period(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    period_label: str,
    *,
    calendar: Calendar,
) -> LedgerEntry | None:
    """Deposit a local pool's capacity for a period (once; later calls change nothing)."""
    rules.require_role(actor, *ADMIN)
    period = calendar.check(period_label, now)
    with uow:
        pool = get_pool(uow, pool_id)
        rules.check_period_in_pool(pool, period)
        uow.pools.lock(pool.id)
        require_open(uow, period.label)
        deposit = ensure_local_capacity(uow, actor, now, pool, period)
        uow.commit()
    return deposit


# --- rates and over-commit ------------------------------------------------------------------------


def set_rate(uow: UnitOfWork, actor: User, now: datetime, pool_id: str, rate: Rate) -> Pool:
    """Add an effective-dated rate; earlier rates stay in force for earlier times.

    A new rate takes effect now or later, never in the past: a rate change never changes what
    already-run jobs were charged.
    """
    rules.require_role(actor, *ADMIN)
    if rate.effective_from < now:
        raise InvalidInput(
            "effective_from", "must not be in the past (a rate change never rewrites history)"
        )
    with uow:
        pool = get_pool(uow, pool_id)
        if any(
            r.gpu_type == rate.gpu_type and r.effective_from == rate.effective_from
            for r in pool.rates
        ):
            raise AlreadyExists(
                "rate", f"{rate.gpu_type}@{rate.effective_from}", field="effective_from"
            )
        updated = replace(pool, rates=(*pool.rates, rate))
        rules.check_pool_definition(updated)
        uow.pools.update(updated)
        record(
            uow,
            actor,
            now,
            "pool.rate_added",
            f"pool:{pool_id}",
            f"{rate.gpu_type}={rate.rate_milli / MILLI} from {rate.effective_from.isoformat()}",
        )
        uow.commit()
    return updated


def set_overcommit(
    uow: UnitOfWork, actor: User, now: datetime, pool_id: str, factor_milli: int, reason: str
) -> Pool:
    rules.require_role(actor, *ADMIN)
    if not reason.strip():
        raise InvalidInput("reason", "an over-commit change needs a reason")
    with uow:
        pool = get_pool(uow, pool_id)
        uow.pools.lock(pool_id)
        updated = replace(pool, overcommit_milli=factor_milli)
        rules.check_pool_definition(updated)
        uow.pools.update(updated)
        record(
            uow,
            actor,
            now,
            "pool.overcommit_set",
            f"pool:{pool_id}",
            f"{pool.overcommit_milli / MILLI} -> {factor_milli / MILLI}: {reason}",
        )
        uow.commit()
    return updated
