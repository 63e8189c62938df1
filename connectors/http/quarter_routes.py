"""The quarter's accounting over HTTP: statements, reconciliation, decisions, reports, close, burn.

Each endpoint parses, calls one use case of ``accounting.services``, shapes the reply. Amounts
are integer unit-seconds of the pool's unit (GPU-seconds for ``gpu_seconds`` bases), with hours
alongside. One module per concern; this one gathers their routes under ``/api/v1``.
"""

from __future__ import annotations

from fastapi import APIRouter

from connectors.http import burn_routes, close_routes, reconciliation_routes, statement_routes

#: Each part's router carries the ``/api/v1`` prefix itself: the route FastAPI hands the
#: metrics middleware is the part's own, and its path is the latency histogram's label.
router = APIRouter(tags=["accounting"])
for _part in (statement_routes, reconciliation_routes, close_routes, burn_routes):
    router.include_router(_part.router)
