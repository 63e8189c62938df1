"""Balances of a pool, a chair, a project or every visible project in a period: sums of the
journal (and of the consumption a lookup gives), in a constant number of reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from allocator import rules
from allocator.errors import NotFound
from allocator.ledger import (
    ChairBalance,
    PoolBalance,
    ProjectBalance,
    all_project_balances,
    chair_balance,
    pool_balance,
)
from allocator.model import User, chair_account, pool_account, project_account
from allocator.periods import Calendar
from allocator.ports import ConsumptionLookup, UnitOfWork
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
        pools = _balance_pools(uow, None if pool_id is None else [pool_id])
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
        pools = _balance_pools(uow, pool_ids)
        return _balances_of(uow, [project_id], pools, period, consumption, every_project=False)


def visible_balances(
    uow: UnitOfWork,
    actor: User,
    period: str | None,
    pool_ids: Sequence[str] | None,
    consumption: ConsumptionLookup,
    include_empty: bool = False,
    *,
    now: datetime,
    calendar: Calendar,
) -> list[ProjectBalance]:
    """Balances of every project the actor may see in ``period`` (the current one when
    ``None``), sorted by pool then project: a constant number of reads (projects, pools, one
    for the flows, one for consumption), whatever the number of projects and pools."""
    period = calendar.check_or_current(period, now).label
    with uow:
        projects = uow.projects.ids(mine(actor))
        pools = _balance_pools(uow, pool_ids)
        every = rules.can_read_everything(actor)
        rows = _balances_of(uow, projects, pools, period, consumption, every_project=every)
    return sorted(
        (b for b in rows if include_empty or not b.is_empty),
        key=lambda b: (b.pool_id, b.project_id),
    )


def _balance_pools(uow: UnitOfWork, pool_ids: Sequence[str] | None) -> list[str]:
    """The pools to read (every pool when ``None``); an unknown one is a 404."""
    known = uow.pools.ids()
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
    every_project: bool,
) -> list[ProjectBalance]:
    """The balances of ``project_ids`` x ``pool_ids`` in two reads: the pools' flows and the
    consumption (narrowed to these projects' accounts unless ``every_project``)."""
    if not project_ids or not pool_ids:
        return []
    accounts = None if every_project else [project_account(p) for p in project_ids]
    flows = uow.ledger.flows_in(pool_ids, period, accounts)
    consumed = consumption(period, pool_ids, None if every_project else project_ids)
    by_pool: dict[str, dict[str, tuple[int, int]]] = {p: {} for p in pool_ids}
    for (project_id, pool_id), amounts in consumed.items():
        if pool_id in by_pool:
            by_pool[pool_id][project_id] = amounts
    rows = []
    for pool_id in pool_ids:
        balances = all_project_balances(flows[pool_id], pool_id, period, by_pool[pool_id])
        for project_id in project_ids:
            empty = ProjectBalance(project_id, pool_id, period, 0, 0, 0, 0)
            rows.append(balances.get(project_id, empty))
    return rows
