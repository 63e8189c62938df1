"""What the quarter's routes share: the pool and period parameters, hours per day."""

from __future__ import annotations

from fastapi import Path, Query

from connectors.http.params import PERIOD_DOC, PERIOD_PATTERN

PeriodPath = Path(pattern=PERIOD_PATTERN, description=PERIOD_DOC)
PoolQ = Query(max_length=64)
OptionalPoolQ = Query(default=None, max_length=64)
