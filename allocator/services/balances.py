"""Balances of a pool, a chair, a project or every visible project in a period: sums of the
journal (and of the consumption a lookup gives), in a constant number of reads."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from itertools import islice

from allocator import rules
from allocator.errors import NotFound
from allocator.ledger import (
    BalanceInputs,
    ChairBalance,
    Flows,
    PoolBalance,
    ProjectBalance,
    all_project_balances,
    chair_balance,
    pool_balance,
)
from allocator.model import User, chair_account, pool_account, project_account
from allocator.periods import Calendar
from allocator.ports import BalanceReads, ConsumptionLookup, UnitOfWork
from allocator.services._common import get_chair, get_pool, mine
from allocator.services.reading import list_projects


def pool_balances(
    uow: UnitOfWork,
    actor: User,
    pool_id: str,
    period: str | None,
    *,
    now: datetime,
    calendar: Calendar,
) -> PoolBalance:
    """A pool's balance in ``period`` (the current one when ``None``)."""
    period = calendar.check_or_current(period, now).label
    with uow:
        get_pool(uow, pool_id)
        flows = uow.ledger.flows_in([pool_id], period, [pool_account(pool_id)])[pool_id]
        return pool_balance(flows, pool_id, period)


def chair_balances(
    uow: UnitOfWork,
    actor: User,
    chair_id: str,
    pool_id: str | None,
    period: str | None,
    *,
    now: datetime,
    calendar: Calendar,
) -> list[ChairBalance]:
    """A chair's balance in ``pool_id`` (every pool when ``None``) for ``period`` (the current
    one when ``None``), in pool order."""
    period = calendar.check_or_current(period, now).label
    with uow:
        get_chair(uow, chair_id)
        if not rules.can_read_everything(actor) and chair_id not in {
            p.chair_id for p in list_projects(uow, actor)
        }:
            raise NotFound("chair", chair_id, field="chair_id")
        pools = _known_pools(uow.pools.ids(), None if pool_id is None else [pool_id])
        # only the chair's entries: what its balance needs, however many projects it funds
        flows = uow.ledger.flows_in(pools, period, [chair_account(chair_id)]) if pools else {}
        return [chair_balance(flows[p], chair_id, p, period) for p in pools]


def project_balances(
    uow: UnitOfWork,
    actor: User,
    project_id: str,
    pool_id: str,
    period: str,
    consumed: int = 0,
    consumed_provisional: int = 0,
    *,
    now: datetime,
    calendar: Calendar,
) -> ProjectBalance:
    def consumption(
        period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        return {(project_id, pool_id): (consumed, consumed_provisional)}

    return project_balances_in(
        uow, actor, project_id, period, [pool_id], consumption, now=now, calendar=calendar
    )[0]


def project_balances_in(
    uow: UnitOfWork,
    actor: User,
    project_id: str,
    period: str | None,
    pool_ids: Sequence[str] | None,
    consumption: ConsumptionLookup,
    *,
    now: datetime,
    calendar: Calendar,
) -> list[ProjectBalance]:
    """A project's balance in each of ``pool_ids`` (every pool when ``None``) for ``period``
    (the current one when ``None``)."""
    period = calendar.check_or_current(period, now).label
    with uow:
        if not uow.projects.visible(project_id, actor.username, rules.can_read_everything(actor)):
            raise NotFound("project", project_id, field="project_id")
        pools = _known_pools(uow.pools.ids(), pool_ids)
        return _balances_of(uow, [project_id], pools, period, consumption)


def visible_balances(
    reads: BalanceReads,
    actor: User,
    period: str | None,
    pool_ids: Sequence[str] | None,
    include_empty: bool = False,
    *,
    now: datetime,
    calendar: Calendar,
    after: tuple[str, str] | None = None,
    first: int | None = None,
) -> list[ProjectBalance]:
    """Balances of every project the actor may see in ``period`` (the current one when
    ``None``), sorted by pool then project, from one read of their inputs (``reads``: the
    projects, the pools, the flows and the consumption at one instant), whatever the number of
    projects and pools. A window of that list: the rows after ``after`` (a ``(pool, project)``),
    at most ``first`` of them; only those are built."""
    period = calendar.check_or_current(period, now).label
    inputs = reads(period, pool_ids, mine(actor), "" if after is None else after[0])
    pools = sorted(_known_pools(inputs.pool_ids, pool_ids))
    rows = _in_order(inputs.project_ids, pools, period, inputs.flows, inputs.consumed, after)
    return list(islice((b for b in rows if include_empty or not b.is_empty), first))


def reads_in(uow: UnitOfWork, consumption: ConsumptionLookup) -> BalanceReads:
    """:class:`BalanceReads` through ``uow``'s repositories and ``consumption``, in its
    transaction (four reads): for a use case that reads more in the same snapshot."""

    def read(
        period: str, pool_ids: Sequence[str] | None, member: str | None, from_pool: str = ""
    ) -> BalanceInputs:
        with uow:
            projects = tuple(uow.projects.ids(member))
            known = tuple(uow.pools.ids())
            pools = [p for p in known if (pool_ids is None or p in pool_ids) and p >= from_pool]
            if not projects or not pools:
                return BalanceInputs(projects, known, {}, {})
            accounts = None if member is None else [project_account(p) for p in projects]
            flows = uow.ledger.flows_in(pools, period, accounts)
            consumed = consumption(period, pools, None if member is None else projects)
            return BalanceInputs(projects, known, flows, consumed)

    return read


def _known_pools(known: Sequence[str], pool_ids: Sequence[str] | None) -> list[str]:
    """The pools to read (every pool when ``None``); an unknown one is a 404."""
    for pool_id in pool_ids or ():
        if pool_id not in known:
            raise NotFound("pool", pool_id, field="pool_id")
    return list(known if pool_ids is None else pool_ids)


def _balances_of(
    uow: UnitOfWork,
    project_ids: Sequence[str],
    pool_ids: Sequence[str],
    period: str,
    consumption: ConsumptionLookup,
) -> list[ProjectBalance]:
    """The balances of ``project_ids`` x ``pool_ids`` in two reads: the pools' flows and the
    consumption, narrowed to these projects' accounts."""
    if not project_ids or not pool_ids:
        return []
    flows = uow.ledger.flows_in(pool_ids, period, [project_account(p) for p in project_ids])
    consumed = consumption(period, pool_ids, project_ids)
    return list(_in_order(project_ids, pool_ids, period, flows, consumed))


def _in_order(
    project_ids: Sequence[str],
    pool_ids: Sequence[str],
    period: str,
    flows: Mapping[str, Flows],
    consumed: Mapping[tuple[str, str], tuple[int, int]],
    after: tuple[str, str] | None = None,
) -> Iterator[ProjectBalance]:
    """The balances of ``project_ids`` x ``pool_ids`` in that order (sorted in, sorted out),
    from the one after ``after``; each pool's built when the first of its rows is asked for."""
    by_pool: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for (project_id, pool_id), amounts in consumed.items():
        by_pool[pool_id][project_id] = amounts
    for pool_id in pool_ids:
        if after is not None and pool_id < after[0]:
            continue
        start = bisect_right(project_ids, after[1]) if after and pool_id == after[0] else 0
        if start == len(project_ids):
            continue
        balances = all_project_balances(flows.get(pool_id, {}), pool_id, period, by_pool[pool_id])
        for project_id in project_ids[start:]:
            found = balances.get(project_id)
            yield found or ProjectBalance(project_id, pool_id, period, 0, 0, 0, 0)
