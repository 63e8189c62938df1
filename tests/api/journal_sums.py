"""Sums over the raw journal, written independently of ``allocator.ledger``: what each account
of a pool and period received and gave, to check the API's balances against."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from allocator.model import EntryKind, LedgerEntry
from allocator.periods import period_of
from tests.api.random_operations import LOCAL_GPUS, PROJECTS


class Book:
    """Per (pool, period): money in and out of each account, summed here from the entries."""

    def __init__(self, entries: list[LedgerEntry]) -> None:
        self.entries = entries
        self.moves: dict[tuple[str, str], list[LedgerEntry]] = defaultdict(list)
        for e in entries:
            self.moves[(e.pool_id, e.period)].append(e)

    def _sum(self, pool: str, period: str, *, src: str = "", dst: str = "", kinds: Any = ()) -> int:
        return sum(
            e.amount
            for e in self.moves[(pool, period)]
            if (not src or e.source == src)
            and (not dst or e.target == dst)
            and (not kinds or e.kind in kinds)
        )

    def held(self, pool: str, period: str, account: str) -> int:
        return self._sum(pool, period, dst=account) - self._sum(pool, period, src=account)

    def capacity(self, pool: str, period: str) -> int:
        acct = f"pool:{pool}"
        deposits = self._sum(pool, period, dst=acct, kinds=(EntryKind.DEPOSIT,))
        withdrawals = self._sum(pool, period, src=acct, kinds=(EntryKind.WITHDRAWAL,))
        if pool == "loc" and deposits == 0:  # deposited on first use of the period
            return LOCAL_GPUS * period_of(period).seconds
        return deposits - withdrawals

    def received(self, pool: str, period: str, account: str) -> int:
        inflow = self._sum(pool, period, dst=account, kinds=(EntryKind.ALLOCATE,))
        return inflow - self._sum(pool, period, src=account, kinds=(EntryKind.RELEASE,))

    def given(self, pool: str, period: str, account: str) -> int:
        outflow = self._sum(pool, period, src=account, kinds=(EntryKind.ALLOCATE,))
        return outflow - self._sum(pool, period, dst=account, kinds=(EntryKind.RELEASE,))

    def project_allocated(self, pool: str, period: str, project: str) -> int:
        acct = f"project:{project}"
        kinds = (EntryKind.ALLOCATE, EntryKind.RELEASE, EntryKind.TRANSFER)
        return self._sum(pool, period, dst=acct, kinds=kinds) - self._sum(
            pool, period, src=acct, kinds=kinds
        )

    # what may still leave an account (over-commit stretches it by the pool's factor)

    def pool_headroom(self, pool: str, period: str, overcommit: int) -> int:
        capacity = self.capacity(pool, period)
        unallocated = capacity - self.given(pool, period, f"pool:{pool}")
        return unallocated + stretch(capacity, overcommit)

    def chair_headroom(self, pool: str, period: str, chair: str, overcommit: int) -> int:
        acct = f"chair:{chair}"
        return self.held(pool, period, acct) + stretch(
            self.received(pool, period, acct), overcommit
        )

    def can_allocate(self, pool: str, period: str, project: str, amount: int, oc: int) -> bool:
        """chair -> project with draw_from_pool: the chair's shortfall comes from the pool."""
        available = self.chair_headroom(pool, period, PROJECTS[project], oc)
        if amount <= available:
            return True
        return amount - max(available, 0) <= self.pool_headroom(pool, period, oc)


def stretch(base: int, overcommit_milli: int) -> int:
    return base * (overcommit_milli - 1000) // 1000 if overcommit_milli > 1000 else 0
