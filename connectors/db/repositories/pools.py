"""Pools with their inventory, rates, cluster routes and node shapes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from allocator.model import (
    BillingMode,
    ClosePolicy,
    ClusterRoute,
    GpuInventory,
    NodeShape,
    Pool,
    PoolKind,
    Rate,
)
from connectors.db import tables as t


class SqlPools:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, pool_id: str) -> Pool | None:
        row = self.session.get(t.PoolRow, pool_id)
        return None if row is None else self._load([row])[0]

    def _load(self, rows: Sequence[t.PoolRow]) -> list[Pool]:
        """The pools of ``rows`` with their children: one query per child table, not per pool."""
        if not rows:
            return []
        ids = [r.id for r in rows]
        inventory, rates = self._inventory(ids), self._rates(ids)
        routes, shapes = self._routes(ids), self._node_shapes(ids)
        return [
            Pool(
                id=row.id,
                name=row.name,
                kind=PoolKind(row.kind),
                unit=row.unit,
                valid_from=row.valid_from,
                valid_until=row.valid_until,
                inventory=tuple(inventory[row.id]),
                availability_milli=row.availability_milli,
                overcommit_milli=row.overcommit_milli,
                billing_mode=BillingMode(row.billing_mode),
                close_policy=ClosePolicy(row.close_policy),
                carryover_cap_milli=row.carryover_cap_milli,
                routes=tuple(routes[row.id]),
                node_shapes=tuple(shapes[row.id]),
                rates=tuple(rates[row.id]),
                description=row.description,
            )
            for row in rows
        ]

    def _inventory(self, ids: Sequence[str]) -> dict[str, list[GpuInventory]]:
        inventory: dict[str, list[GpuInventory]] = defaultdict(list)
        for i in self.session.scalars(
            select(t.PoolInventoryRow)
            .where(t.PoolInventoryRow.pool_id.in_(ids))
            .order_by(t.PoolInventoryRow.gpu_type)
        ):
            inventory[i.pool_id].append(GpuInventory(i.gpu_type, i.count))
        return inventory

    def _rates(self, ids: Sequence[str]) -> dict[str, list[Rate]]:
        rates: dict[str, list[Rate]] = defaultdict(list)
        for r in self.session.scalars(
            select(t.PoolRateRow)
            .where(t.PoolRateRow.pool_id.in_(ids))
            .order_by(t.PoolRateRow.gpu_type, t.PoolRateRow.effective_from)
        ):
            rates[r.pool_id].append(Rate(r.gpu_type, r.rate_milli, r.effective_from))
        return rates

    def _routes(self, ids: Sequence[str]) -> dict[str, list[ClusterRoute]]:
        routes: dict[str, list[ClusterRoute]] = defaultdict(list)
        for route in self.session.scalars(
            select(t.PoolRouteRow)
            .where(t.PoolRouteRow.pool_id.in_(ids))
            .order_by(t.PoolRouteRow.cluster, t.PoolRouteRow.partition)
        ):
            routes[route.pool_id].append(
                ClusterRoute(route.cluster, route.partition, route.gpu_type)
            )
        return routes

    def _node_shapes(self, ids: Sequence[str]) -> dict[str, list[tuple[str, NodeShape]]]:
        shapes: dict[str, list[tuple[str, NodeShape]]] = defaultdict(list)
        for n in self.session.scalars(
            select(t.PoolNodeShapeRow)
            .where(t.PoolNodeShapeRow.pool_id.in_(ids))
            .order_by(t.PoolNodeShapeRow.partition)
        ):
            shapes[n.pool_id].append((n.partition, NodeShape(n.gpus, n.cpus, n.mem_mb)))
        return shapes

    def add(self, pool: Pool) -> None:
        row = t.PoolRow(id=pool.id)
        self._sync(row, pool)
        self.session.add(row)
        self._sync_children(pool)

    def update(self, pool: Pool) -> None:
        row = self.session.get(t.PoolRow, pool.id)
        assert row is not None
        self._sync(row, pool)
        self._sync_children(pool)

    @staticmethod
    def _sync(row: t.PoolRow, pool: Pool) -> None:
        row.name, row.kind, row.unit = pool.name, pool.kind.value, pool.unit
        row.valid_from, row.valid_until = pool.valid_from, pool.valid_until
        row.availability_milli, row.overcommit_milli = (
            pool.availability_milli,
            pool.overcommit_milli,
        )
        row.billing_mode, row.close_policy = pool.billing_mode.value, pool.close_policy.value
        row.carryover_cap_milli, row.description = pool.carryover_cap_milli, pool.description

    def _sync_children(self, pool: Pool) -> None:
        s = self.session
        # Inventory, routes and shapes are configuration; rates are append-only history.
        s.execute(delete(t.PoolInventoryRow).where(t.PoolInventoryRow.pool_id == pool.id))
        s.execute(delete(t.PoolRouteRow).where(t.PoolRouteRow.pool_id == pool.id))
        s.execute(delete(t.PoolNodeShapeRow).where(t.PoolNodeShapeRow.pool_id == pool.id))
        s.add_all(
            t.PoolInventoryRow(pool_id=pool.id, gpu_type=i.gpu_type, count=i.count)
            for i in pool.inventory
        )
        s.add_all(
            t.PoolRouteRow(
                cluster=r.cluster, partition=r.partition, gpu_type=r.gpu_type, pool_id=pool.id
            )
            for r in pool.routes
        )
        s.add_all(
            t.PoolNodeShapeRow(
                pool_id=pool.id, partition=p, gpus=n.gpus, cpus=n.cpus, mem_mb=n.mem_mb
            )
            for p, n in pool.node_shapes
        )
        known = {
            (r.gpu_type, r.effective_from)
            for r in s.scalars(select(t.PoolRateRow).where(t.PoolRateRow.pool_id == pool.id))
        }
        s.add_all(
            t.PoolRateRow(
                pool_id=pool.id,
                gpu_type=r.gpu_type,
                effective_from=r.effective_from,
                rate_milli=r.rate_milli,
            )
            for r in pool.rates
            if (r.gpu_type, r.effective_from) not in known
        )
        s.flush()

    def list(self) -> Sequence[Pool]:
        return self._load(list(self.session.scalars(select(t.PoolRow).order_by(t.PoolRow.id))))

    def ids(self) -> Sequence[str]:
        return list(self.session.scalars(select(t.PoolRow.id).order_by(t.PoolRow.id)))

    def units(self) -> Mapping[str, str]:
        return dict(self.session.execute(select(t.PoolRow.id, t.PoolRow.unit)).tuples().all())

    def exists(self, pool_id: str) -> bool:
        return self.session.scalar(select(t.PoolRow.id).where(t.PoolRow.id == pool_id)) is not None

    def lock(self, pool_id: str) -> None:
        # PostgreSQL: a row lock held to the end of the transaction serialises every
        # amount-moving change of this pool. SQLite: BEGIN IMMEDIATE already serialises writers.
        self.session.execute(select(t.PoolRow.id).where(t.PoolRow.id == pool_id).with_for_update())
