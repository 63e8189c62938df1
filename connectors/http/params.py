"""Query and path parameters every route module shares."""

from __future__ import annotations

from fastapi import Path, Query

from connectors.http.schemas import PERIOD_DOC, PERIOD_PATTERN

__all__ = [
    "PERIOD_DOC",
    "PERIOD_PATTERN",
    "CurrentPeriodQ",
    "OptionalPeriodQ",
    "PeriodPath",
    "PeriodPathByTheCore",
    "PeriodQ",
]

#: The shape of any period label; the use cases then accept only the site's scheme (a 422
#: naming the field, the scheme and an example), within a few years of today.
PeriodQ = Query(pattern=PERIOD_PATTERN, description=PERIOD_DOC)
OptionalPeriodQ = Query(default=None, pattern=PERIOD_PATTERN, description=PERIOD_DOC)
PeriodPath = Path(pattern=PERIOD_PATTERN, description=PERIOD_DOC)
#: A period path parameter documented alike but checked by the use case alone (its refusal
#: names the scheme and an example: "not a period label of this site ...").
PeriodPathByTheCore = Path(description=PERIOD_DOC, json_schema_extra={"pattern": PERIOD_PATTERN})
#: A period that defaults to the current one: the period of the site's calendar (scheme and
#: time zone) that holds the server's clock.
CurrentPeriodQ = Query(
    default=None,
    pattern=PERIOD_PATTERN,
    description=PERIOD_DOC + "; default: the current period of the site's calendar",
)
