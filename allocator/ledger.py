"""Balances derived from the journal, never stored.

The journal is a list of transfers ``source -> target`` of ``amount`` unit-seconds within one
pool and one period. Every balance below is a pure function of the summed *flows*
``(source, target, kind) -> amount`` of one (pool, period); the database adapter computes the
same flows with one ``GROUP BY``, the in-memory fake with a loop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from allocator.model import (
    MILLI,
    EntryKind,
    LedgerEntry,
    chair_account,
    pool_account,
    project_account,
)

Flows = Mapping[tuple[str, str, EntryKind], int]


def flows_of(entries: Iterable[LedgerEntry]) -> dict[tuple[str, str, EntryKind], int]:
    out: dict[tuple[str, str, EntryKind], int] = defaultdict(int)
    for e in entries:
        out[(e.source, e.target, e.kind)] += e.amount
    return dict(out)


def balance(flows: Flows, account: str) -> int:
    """What ``account`` holds: everything in, minus everything out."""
    total = 0
    for (source, target, _kind), amount in flows.items():
        if target == account:
            total += amount
        if source == account:
            total -= amount
    return total


def inflow(flows: Flows, account: str, *kinds: EntryKind) -> int:
    return sum(a for (_s, t, k), a in flows.items() if t == account and (not kinds or k in kinds))


def outflow(flows: Flows, account: str, *kinds: EntryKind) -> int:
    return sum(a for (s, _t, k), a in flows.items() if s == account and (not kinds or k in kinds))


def pool_capacity(flows: Flows, pool_id: str) -> int:
    """Deposits minus withdrawals: what the pool has for the period."""
    acct = pool_account(pool_id)
    return inflow(flows, acct, EntryKind.DEPOSIT) - outflow(flows, acct, EntryKind.WITHDRAWAL)


def received(flows: Flows, account: str) -> int:
    """Net hours an account was allocated from its parent (allocations minus releases)."""
    return inflow(flows, account, EntryKind.ALLOCATE) - outflow(flows, account, EntryKind.RELEASE)


def given(flows: Flows, account: str) -> int:
    """Net hours an account allocated to its children."""
    return outflow(flows, account, EntryKind.ALLOCATE) - inflow(flows, account, EntryKind.RELEASE)


def headroom(own_balance: int, base: int, overcommit_milli: int) -> int:
    """How much more may leave an account whose net ``base`` may be over-committed."""
    extra = base * (overcommit_milli - MILLI) // MILLI if overcommit_milli > MILLI else 0
    return own_balance + extra


@dataclass(frozen=True, slots=True)
class PoolBalance:
    pool_id: str
    period: str
    capacity: int
    allocated: int
    unallocated: int


@dataclass(frozen=True, slots=True)
class ChairBalance:
    chair_id: str
    pool_id: str
    period: str
    received: int
    allocated_to_projects: int
    unallocated: int


@dataclass(frozen=True, slots=True)
class ProjectBalance:
    """A project's hours in one pool and period. ``consumed`` comes from accounting."""

    project_id: str
    pool_id: str
    period: str
    allocated: int
    adjustments: int
    consumed: int
    consumed_provisional: int

    @property
    def is_empty(self) -> bool:
        """Nothing allocated, adjusted or consumed: nothing to show."""
        return not (
            self.allocated or self.adjustments or self.consumed or self.consumed_provisional
        )

    @property
    def available(self) -> int:
        return self.allocated + self.adjustments

    @property
    def remaining(self) -> int:
        return self.available - self.consumed - self.consumed_provisional

    @property
    def utilisation_milli(self) -> int:
        if self.available <= 0:
            return 0
        return (self.consumed + self.consumed_provisional) * MILLI // self.available


@dataclass(frozen=True, slots=True)
class BalanceInputs:
    """What the balances of many projects in one period are computed from, read at one
    instant: the projects and pools they are of, the flows, the consumption."""

    #: the projects whose balances are asked (those the reader may see)
    project_ids: tuple[str, ...]
    #: every pool there is (a pool asked that is not here is unknown)
    pool_ids: tuple[str, ...]
    #: pool -> its flows in the period (only those from or to the projects' accounts when the
    #: reader sees some projects only)
    flows: Mapping[str, Flows]
    #: ``(project, pool) -> (final, provisional)`` unit-seconds consumed in the period
    consumed: Mapping[tuple[str, str], tuple[int, int]]


def pool_balance(flows: Flows, pool_id: str, period: str) -> PoolBalance:
    capacity = pool_capacity(flows, pool_id)
    acct = pool_account(pool_id)
    return PoolBalance(pool_id, period, capacity, given(flows, acct), balance(flows, acct))


def chair_balance(flows: Flows, chair_id: str, pool_id: str, period: str) -> ChairBalance:
    acct = chair_account(chair_id)
    return ChairBalance(
        chair_id, pool_id, period, received(flows, acct), given(flows, acct), balance(flows, acct)
    )


_ALLOCATION_KINDS = (EntryKind.ALLOCATE, EntryKind.RELEASE, EntryKind.TRANSFER)


def project_balance(
    flows: Flows,
    project_id: str,
    pool_id: str,
    period: str,
    consumed: int = 0,
    consumed_provisional: int = 0,
) -> ProjectBalance:
    """Allocated = net allocations and transfers; adjustments = every other kind of entry."""
    acct = project_account(project_id)
    allocated = inflow(flows, acct, *_ALLOCATION_KINDS) - outflow(flows, acct, *_ALLOCATION_KINDS)
    return ProjectBalance(
        project_id,
        pool_id,
        period,
        allocated,
        balance(flows, acct) - allocated,
        consumed,
        consumed_provisional,
    )


def all_project_balances(
    flows: Flows,
    pool_id: str,
    period: str,
    consumption: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, ProjectBalance]:
    """:func:`project_balance` of every project of one (pool, period), in one pass over the
    flows: the projects with a flow, and those in ``consumption`` (``project -> (final,
    provisional)``). The same values as calling :func:`project_balance` for each of them, in
    O(flows + projects) instead of O(projects x flows)."""
    prefix = project_account("")
    total: dict[str, int] = defaultdict(int)
    allocated: dict[str, int] = defaultdict(int)
    for (source, target, kind), amount in flows.items():
        if target.startswith(prefix):
            project_id = target[len(prefix) :]
            total[project_id] += amount
            if kind in _ALLOCATION_KINDS:
                allocated[project_id] += amount
        if source.startswith(prefix):
            project_id = source[len(prefix) :]
            total[project_id] -= amount
            if kind in _ALLOCATION_KINDS:
                allocated[project_id] -= amount
    consumption = consumption or {}
    out: dict[str, ProjectBalance] = {}
    for project_id in total.keys() | consumption.keys():
        alloc = allocated.get(project_id, 0)
        final, provisional = consumption.get(project_id, (0, 0))
        out[project_id] = ProjectBalance(
            project_id,
            pool_id,
            period,
            alloc,
            total.get(project_id, 0) - alloc,
            final,
            provisional,
        )
    return out


def all_chair_balances(flows: Flows, pool_id: str, period: str) -> dict[str, ChairBalance]:
    """:func:`chair_balance` of every chair with a flow in ``flows``, in one pass over them."""
    prefix = chair_account("")
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # received, given, balance
    for (source, target, kind), amount in flows.items():
        if target.startswith(prefix):
            s = sums[target[len(prefix) :]]
            s[2] += amount
            if kind is EntryKind.ALLOCATE:
                s[0] += amount
            elif kind is EntryKind.RELEASE:
                s[1] -= amount
        if source.startswith(prefix):
            s = sums[source[len(prefix) :]]
            s[2] -= amount
            if kind is EntryKind.RELEASE:
                s[0] -= amount
            elif kind is EntryKind.ALLOCATE:
                s[1] += amount
    return {
        chair_id: ChairBalance(chair_id, pool_id, period, r, g, b)
        for chair_id, (r, g, b) in sums.items()
    }
