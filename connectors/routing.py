"""Every route of a FastAPI application built before its first request, once per process.

FastAPI (0.16x) builds a route's parameters and response models lazily, at the first request
that walks its router, and two applications of one process share the routers of the modules
that declare them (two replicas in a test, the API and the portal in one server). Two first
requests in two threads then build pydantic's schemas of the same classes at once, and one of
them fails with a 500 (``TypeError: string indices must be integers``, seen in CI). A factory
calls :func:`build_now` on its application: a request that matches nothing walks, and so
builds, every route, under one process-wide lock.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI

_BUILDING = threading.Lock()

#: A path no route matches: the match loop visits every route and builds it on its way.
_NOWHERE: dict[str, Any] = {
    "type": "http",
    "method": "GET",
    "path": "/\x00",
    "root_path": "",
    "headers": [],
    "query_string": b"",
}


def build_now(app: FastAPI) -> FastAPI:
    """Build every route of ``app`` now, one application at a time in this process."""
    with _BUILDING:
        for route in app.router.routes:
            route.matches(dict(_NOWHERE))
    return app
