"""The pool definition file of ``gpuhours pools create``: JSON shaped like the API's
``POST /pools`` body, read into the domain's :class:`Pool` (and the initial grant's seconds).

The file is checked as the API checks the body (the fields, their types and bounds; unknown
fields refused); the use case then applies the domain's rules. A refusal names the field by
its path: ``inventory.0.count: must be 1..1000000``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from allocator import hours as hours_rule
from allocator.errors import InvalidInput
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

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")
_GPU_TYPE = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.@-]*)?")
E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PoolDefinition:
    pool: Pool
    grant_seconds: int | None


class _Fields:
    """One JSON object's fields, each taken once; what is left over is refused."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise InvalidInput(where or "input", "must be a JSON object")
        self.data, self.where = dict(data), where

    def path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def take(self, name: str, default: Any = ...) -> Any:
        if name not in self.data:
            if default is ...:
                raise InvalidInput(self.path(name), "Field required")
            return default
        return self.data.pop(name)

    def done(self) -> None:
        for name in self.data:
            raise InvalidInput(self.path(name), "Extra inputs are not permitted")

    def text(self, name: str, low: int, high: int, default: Any = ...) -> str:
        value = self.take(name, default)
        field = self.path(name)
        if not isinstance(value, str):
            raise InvalidInput(field, "must be a string")
        if not low <= len(value) <= high:
            raise InvalidInput(field, f"must be {low} to {high} characters")
        if "\x00" in value:
            raise InvalidInput(field, "must not contain NUL (\\x00) characters")
        return value

    def slug(self, name: str, pattern: re.Pattern[str] = _SLUG, low: int = 1) -> str:
        value = self.text(name, low, 64, "" if low == 0 else ...)
        if pattern.fullmatch(value) is None:
            raise InvalidInput(self.path(name), "must be letters, digits, '_', '.', '@' or '-'")
        return value

    def integer(self, name: str, high: int) -> int:
        """A whole number, as the API takes one (``8``, ``8.0``, ``"8"``)."""
        value = self.take(name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or not 0 < value <= high:
            raise InvalidInput(self.path(name), f"must be a whole number 1..{high}")
        return int(value)

    def factor(self, name: str, low: str, high: str, default: Any, low_open: bool) -> int:
        """A decimal with at most 3 decimals in its bounds, in thousandths."""
        value = self.take(name, default)
        field = self.path(name)
        try:
            number = Decimal(str(value)) if not isinstance(value, bool) else None
        except InvalidOperation:
            number = None
        ok = number is not None and number.is_finite() and number == round(number, 3)
        if ok and number is not None:
            ok = (
                number > Decimal(low) if low_open else number >= Decimal(low)
            ) and number <= Decimal(high)
        if not ok or number is None:
            bound = "(" if low_open else "["
            raise InvalidInput(
                field, f"must be a number in {bound}{low}, {high}], 3 decimals at most"
            )
        return hours_rule.to_milli(number)

    def moment(self, name: str, default: Any = ...) -> datetime | None:
        value = self.take(name, default)
        if value is None and default is None:
            return None
        field = self.path(name)
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.utcoffset() is None:
            raise InvalidInput(
                field, "must be an ISO 8601 time with its offset (2026-07-01T00:00Z)"
            )
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise InvalidInput(field, "out of range once converted to UTC") from None

    def choice(self, name: str, enum: type[E], default: Any = ...) -> E:
        value = self.take(name, default)
        try:
            return enum(value)
        except ValueError:
            names = ", ".join(repr(e.value) for e in enum)
            raise InvalidInput(self.path(name), f"must be one of {names}") from None

    def items(self, name: str, parse: Callable[[_Fields], T]) -> tuple[T, ...]:
        value = self.take(name, [])
        if not isinstance(value, list) or len(value) > 100:
            raise InvalidInput(self.path(name), "must be a list of at most 100 items")
        return tuple(parse(_Fields(v, self.path(f"{name}.{i}"))) for i, v in enumerate(value))


def _inventory(f: _Fields) -> GpuInventory:
    item = GpuInventory(f.slug("gpu_type"), f.integer("count", 1_000_000))
    f.done()
    return item


def _route(f: _Fields) -> ClusterRoute:
    route = ClusterRoute(
        f.slug("cluster"), f.text("partition", 0, 64, ""), f.slug("gpu_type", _GPU_TYPE, 0)
    )
    f.done()
    return route


def _node_shape(f: _Fields) -> tuple[str, NodeShape]:
    partition = f.text("partition", 0, 64)
    shape = NodeShape(
        f.integer("gpus", 64), f.integer("cpus", 100_000), f.integer("mem_mb", 1 << 40)
    )
    f.done()
    return partition, shape


def _rate(f: _Fields) -> Rate:
    gpu_type = f.slug("gpu_type")
    rate = f.factor("rate", "0", "1000", ..., low_open=True)
    effective_from = f.moment("effective_from")
    assert effective_from is not None
    f.done()
    return Rate(gpu_type, rate, effective_from)


def _grant(f: _Fields) -> int | None:
    value = f.take("grant_hours", None)
    if value is None:
        return None
    try:
        hours = hours_rule.parse(str(value) if not isinstance(value, str) else value)
    except ValueError as exc:
        raise InvalidInput("grant_hours", str(exc)) from None
    return hours_rule.to_seconds(hours)


def parse_pool_file(text: str) -> PoolDefinition:
    """The pool a definition file describes; ``InvalidInput`` naming the first bad field."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput("input", f"not JSON: {exc}") from None
    f = _Fields(data, "")
    pool = Pool(
        id=f.slug("id"),
        name=f.text("name", 1, 200),
        kind=f.choice("kind", PoolKind),
        unit=f.text("unit", 1, 64, "gpu-hour"),
        valid_from=f.moment("valid_from", None),
        valid_until=f.moment("valid_until", None),
        inventory=f.items("inventory", _inventory),
        availability_milli=f.factor("availability", "0", "1", "1", low_open=True),
        overcommit_milli=f.factor("overcommit", "1", "10", "1", low_open=False),
        billing_mode=f.choice("billing_mode", BillingMode, BillingMode.ALLOCATED),
        close_policy=f.choice("close_policy", ClosePolicy, ClosePolicy.EXPIRE),
        carryover_cap_milli=f.factor("carryover_cap", "0", "1", "0", low_open=False),
        routes=f.items("routes", _route),
        node_shapes=f.items("node_shapes", _node_shape),
        rates=f.items("rates", _rate),
        description=f.text("description", 0, 2000, ""),
    )
    grant = _grant(f)
    f.done()
    return PoolDefinition(pool, grant)
