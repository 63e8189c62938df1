"""Query and path parameters every route module shares."""

from __future__ import annotations

from fastapi import Path, Query

from connectors.http.schemas import PERIOD_DOC, PERIOD_PATTERN

__all__ = ["PERIOD_DOC", "PERIOD_PATTERN", "OptionalPeriodQ", "PeriodPath", "PeriodQ"]

#: The shape of any period label; the use cases then accept only the site's scheme (a 422
#: naming the field, the scheme and an example), within a few years of today.
PeriodQ = Query(pattern=PERIOD_PATTERN, description=PERIOD_DOC)
OptionalPeriodQ = Query(default=None, pattern=PERIOD_PATTERN, description=PERIOD_DOC)
PeriodPath = Path(pattern=PERIOD_PATTERN, description=PERIOD_DOC)
