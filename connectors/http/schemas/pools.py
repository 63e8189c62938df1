"""Pools: their definition, grants, rates, over-commit; the pool and its balance."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from allocator.ledger import PoolBalance
from allocator.model import BillingMode, ClosePolicy, Pool, PoolKind
from connectors.http.schemas.values import (
    NOT_BLANK,
    UNIT_DOC,
    Factor,
    Hours,
    PoolId,
    Slug,
    Strict,
    UtcDatetime,
    decimal,
    rules,
    when,
)
from connectors.presenters import allocation as present

Overcommit = Annotated[Decimal, decimal(3, 1, 10)]


class InventoryIn(Strict):
    gpu_type: Slug
    count: int = Field(gt=0, le=1_000_000)


class RateIn(Strict):
    gpu_type: Slug
    rate: Factor
    effective_from: UtcDatetime


class RouteIn(Strict):
    cluster: Slug
    partition: str = Field(default="", max_length=64)
    gpu_type: str = Field(
        default="",
        max_length=64,
        pattern=r"^([A-Za-z0-9][A-Za-z0-9_.@-]*)?$",
        description="GPU type of the route's untyped GPUs ('' = leave untyped)",
    )


class NodeShapeIn(Strict):
    partition: str = Field(max_length=64)
    gpus: int = Field(gt=0, le=64)
    cpus: int = Field(gt=0, le=100_000)
    mem_mb: int = Field(gt=0, le=1 << 40)


_DATE = {"type": "string", "format": "date-time"}


class PoolIn(Strict):
    model_config = rules(
        when(
            "kind",
            "national",
            {
                "required": ["valid_from", "valid_until"],
                "properties": {"valid_from": _DATE, "valid_until": _DATE},
            },
        ),
        when(
            "kind",
            "local",
            {
                "required": ["inventory"],
                "properties": {"inventory": {"minItems": 1}, "grant_hours": {"type": "null"}},
            },
        ),
        described="A pool. National: a validity window (valid_until after valid_from), its"
        " grant (grant_hours) optional; with a grant, the window lies in the periods this site"
        " counts (the years of every period's pattern). Local: a GPU inventory, no grant (its"
        " capacity is its GPUs).",
    )

    id: PoolId
    name: str = Field(min_length=1, max_length=200)
    kind: PoolKind
    unit: str = Field(default="gpu-hour", min_length=1, max_length=64)
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    inventory: list[InventoryIn] = Field(default_factory=list, max_length=100)
    availability: Annotated[Decimal, decimal(3, 0, 1, above_low=True, default=Decimal(1))]
    overcommit: Annotated[Decimal, decimal(3, 1, 10, default=Decimal(1))]
    billing_mode: BillingMode = BillingMode.ALLOCATED
    close_policy: ClosePolicy = ClosePolicy.EXPIRE
    carryover_cap: Annotated[Decimal, decimal(3, 0, 1, default=Decimal(0))]
    routes: list[RouteIn] = Field(default_factory=list, max_length=100)
    node_shapes: list[NodeShapeIn] = Field(default_factory=list, max_length=100)
    rates: list[RateIn] = Field(default_factory=list, max_length=100)
    description: str = Field(default="", max_length=2000)
    grant_hours: Hours | None = None


class GrantIn(Strict):
    """A grant: its hours split by time over its window (default: the pool's validity), which
    lies inside that validity and in the periods this site counts (the years of every
    period's pattern)."""

    hours: Hours
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None


class OvercommitIn(Strict):
    factor: Overcommit
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)


class RateOut(BaseModel):
    gpu_type: str
    rate: float
    effective_from: datetime


class PoolOut(BaseModel):
    id: str
    name: str
    kind: PoolKind
    unit: str
    valid_from: datetime | None
    valid_until: datetime | None
    inventory: dict[str, int]
    availability: float
    overcommit: float
    billing_mode: BillingMode
    close_policy: ClosePolicy
    carryover_cap: float
    routes: list[dict[str, str]]
    rates: list[RateOut]
    description: str

    @classmethod
    def of(cls, p: Pool) -> PoolOut:
        return cls.model_validate(present.pool(p))


class PoolBalanceOut(BaseModel):
    pool_id: str
    unit: str = Field(description=UNIT_DOC)
    period: str
    capacity_seconds: int
    allocated_seconds: int
    unallocated_seconds: int
    capacity_hours: float
    allocated_hours: float
    unallocated_hours: float

    @classmethod
    def of(cls, b: PoolBalance, units: Mapping[str, str]) -> PoolBalanceOut:
        return cls.model_validate(present.pool_balance(b, units.get(b.pool_id, "")))
