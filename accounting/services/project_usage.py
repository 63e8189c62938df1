"""A project's hours in a period, pool by pool: its balance, its burn, its usage by GPU type and
day by day (what the portal's project page shows, and its burn chart draws)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from accounting.burn import Burn
from accounting.ports import AccountingUnitOfWork, DailyUse
from accounting.services.burn import burns
from allocator import services as svc
from allocator.ledger import ProjectBalance
from allocator.model import Pool, User
from allocator.periods import Calendar, Period


@dataclass(frozen=True, slots=True)
class TypeUse:
    """What one GPU type used: GPU-seconds, and the pool's unit-seconds they were charged."""

    gpu_type: str
    gpu_seconds: int
    units: int


@dataclass(frozen=True, slots=True)
class PoolUse:
    """A project's hours in one pool and period."""

    pool: Pool
    balance: ProjectBalance
    burn: Burn
    by_type: tuple[TypeUse, ...]
    #: ``(local day, unit-seconds used that day)``, by day
    daily: tuple[tuple[int, int], ...]

    @property
    def running(self) -> int:
        """Unit-seconds of jobs still running (provisional charges)."""
        return self.balance.consumed_provisional


@dataclass(frozen=True, slots=True)
class ProjectUse:
    period: Period
    now: datetime
    pools: tuple[PoolUse, ...]


def project_usage(
    uow: AccountingUnitOfWork,
    actor: User,
    project_id: str,
    period: str,
    *,
    now: datetime,
    calendar: Calendar,
) -> ProjectUse:
    """The project's pools with anything allocated, adjusted or used in ``period``; a project
    the actor may not see is unknown (``NotFound``), as everywhere."""
    label = calendar.check(period, now)
    with uow:  # one snapshot: balances, burn windows and days agree
        balances = svc.project_balances_in(
            uow,
            actor,
            project_id,
            period,
            None,
            uow.consumption.balances,
            now=now,
            calendar=calendar,
        )
        shown = [b for b in balances if not b.is_empty]
        remaining = {(b.project_id, b.pool_id): (b.remaining, b.available) for b in shown}
        end = int(label.end.timestamp())
        found = burns(uow, int(now.timestamp()), remaining, calendar, [project_id], period_end=end)
        days = uow.consumption.daily_of(project_id, period)
        pools = {p.id: p for p in uow.pools.list()}
    return ProjectUse(
        label,
        now,
        tuple(
            PoolUse(
                pools[b.pool_id],
                b,
                found[(b.project_id, b.pool_id)],
                _by_type(days, b.pool_id),
                _daily(days, b.pool_id),
            )
            for b in shown
        ),
    )


def _by_type(days: Sequence[DailyUse], pool_id: str) -> tuple[TypeUse, ...]:
    sums: dict[str, tuple[int, int]] = {}
    for d in days:
        if d.pool_id == pool_id:
            s, u = sums.get(d.gpu_type, (0, 0))
            sums[d.gpu_type] = (s + d.gpu_seconds, u + d.units)
    return tuple(TypeUse(gpu, s, u) for gpu, (s, u) in sorted(sums.items()))


def _daily(days: Sequence[DailyUse], pool_id: str) -> tuple[tuple[int, int], ...]:
    sums: dict[int, int] = {}
    for d in days:
        if d.pool_id == pool_id:
            sums[d.day] = sums.get(d.day, 0) + d.units
    return tuple(sorted(sums.items()))
