"""The quarter's accounting over HTTP: statements, reconciliation, decisions, reports, close, burn.

Each endpoint parses, calls one use case of ``accounting.services``, shapes the reply. Amounts
are integer unit-seconds of the pool's unit (GPU-seconds for ``gpu_seconds`` bases), with hours
alongside. One module per concern; this one gathers their routes under ``/api/v1``.
"""

from __future__ import annotations

from fastapi import APIRouter

from connectors.http import burn_routes, close_routes, reconciliation_routes, statement_routes

router = APIRouter(prefix="/api/v1", tags=["accounting"])
for _part in (statement_routes, reconciliation_routes, close_routes, burn_routes):
    router.include_router(_part.router)
