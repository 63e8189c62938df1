"""HTTP latency: an ASGI middleware observing each request's duration in a histogram labelled
by method, route template and status code, every label bounded whatever clients send."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

from connectors.metrics.families import PREFIX

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The ``route`` label of requests no route matches (404s): one value, whatever the path.
UNMATCHED = "<unmatched>"
#: The ``method`` label takes these; any other method a client sends is ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


def code_label(status: int) -> str:
    """The status code, or ``other`` outside 100..599 (bounded whatever an app sends)."""
    return str(status) if 100 <= status <= 599 else OTHER


class RequestDuration:
    """ASGI middleware: observes each HTTP request's duration by method (a known one, else
    ``other``), route template (never the raw path; ``<unmatched>`` for every unknown path) and
    status code: every label is bounded, whatever clients send."""

    def __init__(
        self,
        app: ASGIApp,
        histogram: Histogram,
        routes: Callable[[], Sequence[Any]],
        prefix: str = "",
    ):
        """``prefix``: where ``app`` is mounted (``/portal``), put before its route templates."""
        self.app = app
        self.histogram = histogram
        self.routes = routes
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            labels = (method_label(scope["method"]), self.template(scope), code_label(status))
            self.histogram.labels(*labels).observe(time.perf_counter() - started)

    def template(self, scope: Scope) -> str:
        route = scope.get("route")  # set by FastAPI's routes
        if route is None:  # Starlette's own routes (the OpenAPI document, the docs)
            from starlette.routing import Match

            route = next((r for r in self.routes() if r.matches(scope)[0] is not Match.NONE), None)
        path = getattr(route, "path", None)
        return self.prefix + path if isinstance(path, str) else UNMATCHED


def latency_histogram(registry: CollectorRegistry) -> Histogram:
    """``gpuhours_http_request_duration_seconds``, on ``registry``."""
    return Histogram(
        PREFIX + "http_request_duration_seconds",
        "HTTP request latency by method, route template and status code.",
        ["method", "route", "code"],
        registry=registry,
    )
