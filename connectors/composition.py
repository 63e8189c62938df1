"""One ASGI application of every installed face: what ``gpuhours serve`` runs.

Not a face, and it imports none: the faces are found through the entry points of the group
``gpuhours.faces`` (pyproject.toml), each a factory ``create(services=...)``:

* ``api`` (required): the HTTP API, served at the root (its routes are under ``/api/v1``,
  plus ``/healthz``, ``/readyz`` and ``/metrics``);
* any other face, ``portal`` today, is served under ``/<name>`` (the portal at ``/portal/``);
* ``/`` leads to the portal when it is installed (to the API's documentation otherwise).

Every face gets the same :class:`~connectors.bootstrap.Services`: one engine, one pool, one
authentication throttle.
"""

from __future__ import annotations

import gc
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Mount, Route

from connectors.bootstrap import Services, build
from connectors.metrics.latency import RequestDuration
from connectors.settings import Settings

FACES = "gpuhours.faces"
API = "api"
#: Where ``/`` leads when the portal is not installed.
API_DOCS = "/api/v1/docs"


def faces() -> dict[str, EntryPoint]:
    """The installed faces, by name."""
    return {ep.name: ep for ep in entry_points(group=FACES)}


def compose(services: Services) -> Starlette:
    """The API at the root and every other face under ``/<name>``, on ``services``."""
    found = faces()
    if API not in found:
        raise RuntimeError(f"no API installed (entry point {API!r} of {FACES}): pip install -e .")
    api: Any = found[API].load()(services=services)
    others = sorted(name for name in found if name != API)
    home = "/portal/" if "portal" in others else (f"/{others[0]}/" if others else API_DOCS)

    async def root(request: Request) -> RedirectResponse:
        return RedirectResponse(request.scope.get("root_path", "") + home, status_code=307)

    routes: list[BaseRoute] = [Route("/", root, methods=["GET", "HEAD"])]
    for name in others:
        routes.append(
            Mount(
                f"/{name}",
                app=_observed(api, found[name].load()(services=services), name),
                name=name,
            )
        )
    routes.append(Mount("", app=api))
    app = Starlette(routes=routes)
    app.state.services = services
    return app


def _observed(api: Any, face: Any, name: str) -> Any:
    """``face`` (mounted at ``/<name>``), its requests observed in the API's latency histogram
    (``route="/<name>/..."``), so that ``/metrics`` shows every face's."""
    histogram = getattr(api.state, "latency", None)
    if histogram is None:
        return face
    return RequestDuration(face, histogram, routes=lambda: face.router.routes, prefix=f"/{name}")


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    """The composed application of ``settings`` (or of built ``services``)."""
    return compose(services or build(settings or Settings()))


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory`` and multi-worker serving: settings from the environment."""
    app = create_app(Settings())
    settle()
    return app


def settle() -> None:
    """Before a server process serves: collect once, then freeze what start-up built (routes,
    schemas, tables: about 150,000 objects) out of the cyclic garbage collector's sight.

    A full collection walks every tracked object. Without this, about one request in a dozen
    on a busy server paid for one: 55 ms more on a ``GET /balances`` page of 1,000 rows on
    this machine (``tests/bench/bench_balances``, every-row read: p90 212 ms, median 106 ms).
    Called once by a serving process, never by tests: a frozen object is never collected."""
    gc.collect()
    gc.freeze()
