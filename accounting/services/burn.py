"""Burn rates: how fast each project uses its hours, and when they run out at that pace."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from accounting.burn import Burn, burn_of
from accounting.ports import AccountingUnitOfWork
from allocator import services as svc
from allocator.ledger import ProjectBalance
from allocator.model import User
from allocator.periods import Calendar
from allocator.rules import can_read_everything


def burns(
    uow: AccountingUnitOfWork,
    now: int,
    remaining: Mapping[tuple[str, str], tuple[int, int]],
    calendar: Calendar,
    projects: Sequence[str] | None = None,
    *,
    period_end: int,
) -> dict[tuple[str, str], Burn]:
    """Burn rates and projected exhaustion for ``(project, pool) -> (remaining, allocated)``
    of the period ending at ``period_end`` (a date only before it:
    :func:`accounting.burn.outlook_of`), from the same window sums as ``/metrics`` (local days
    of ``calendar``; only ``projects``' usage when given: a researcher's burn reads her
    accounts, not the whole cluster's)."""
    with uow:
        windows = uow.consumption.burn_windows(now, calendar, projects)
    return {
        key: burn_of(*windows.get(key, (0, 0)), now, rem, alloc, calendar, period_end=period_end)
        for key, (rem, alloc) in remaining.items()
    }


@dataclass(frozen=True, slots=True)
class ProjectBurn:
    """A project's balance in a pool, and its burn."""

    balance: ProjectBalance
    burn: Burn

    @property
    def consumed(self) -> int:
        """Final and provisional consumption."""
        return self.balance.consumed + self.balance.consumed_provisional


def burn_rates(
    uow: AccountingUnitOfWork,
    actor: User,
    now: datetime,
    period: str | None,
    pool_id: str | None,
    *,
    calendar: Calendar,
) -> list[ProjectBurn]:
    """Per visible project x pool (every pool when ``pool_id`` is ``None``) in ``period`` (the
    current one when ``None``): balance, burn rates and whether (when) the balance runs out
    before the period's end (researchers see their projects only)."""
    period = calendar.check_or_current(period, now).label
    with uow:  # one snapshot: the balances and the windows they are compared with
        balances = svc.visible_balances(
            svc.reads_in(uow, uow.consumption.balances),
            actor,
            period,
            None if pool_id is None else [pool_id],
            now=now,
            calendar=calendar,
        )
        epoch = int(now.timestamp())
        remaining = {(b.project_id, b.pool_id): (b.remaining, b.available) for b in balances}
        mine = None if can_read_everything(actor) else sorted({b.project_id for b in balances})
        end = int(calendar.period(period).end.timestamp())
        found = burns(uow, epoch, remaining, calendar, mine, period_end=end)
    return [ProjectBurn(b, found[(b.project_id, b.pool_id)]) for b in balances]
