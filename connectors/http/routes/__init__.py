"""Endpoints of ``/api/v1``: each parses, calls one use case, shapes the reply.

One module per aggregate; this router includes them in the order the API documents them.
"""

from __future__ import annotations

from fastapi import APIRouter

from connectors.http.params import PERIOD_DOC, PERIOD_PATTERN, OptionalPeriodQ, PeriodQ
from connectors.http.routes import (
    allocations,
    notifications,
    organisation,
    pools,
    requests,
    users,
)

__all__ = ["PERIOD_DOC", "PERIOD_PATTERN", "OptionalPeriodQ", "PeriodQ", "routers"]

#: Each module's router carries the ``/api/v1`` prefix itself: the route FastAPI hands the
#: metrics middleware is the module's own, and its path is the latency histogram's label.
#: The application includes each of them itself: FastAPI matches a request against every
#: router level on the way to its route, each level once more to handle it, so a router of
#: routers made every request cost a level more (about 0.2 ms; ``tests/bench/bench_balances``).
routers: tuple[APIRouter, ...] = tuple(
    m.router for m in (users, pools, organisation, allocations, requests, notifications)
)
