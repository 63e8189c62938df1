"""What the quarter's routes share: the pool and period parameters, hours per day."""

from __future__ import annotations

from fastapi import Query

from connectors.http.params import PeriodPath

__all__ = ["OptionalPoolQ", "PeriodPath", "PoolQ"]
PoolQ = Query(max_length=64)
OptionalPoolQ = Query(default=None, max_length=64)
