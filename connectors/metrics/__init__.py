"""``/metrics``: the Prometheus families of ``dashboards/METRICS.md`` (the contract).

The rooms:

* :mod:`.families`: the database-derived families (``SPEC``) and their samples, rendered as
  text by the collector itself;
* :mod:`.business`: the database collection for the **current** period (the reconciliation
  family: the last closed period), what the API's balances use; its SQL is the read model
  :mod:`connectors.db.metrics_reads`; :mod:`.operations`: the ingestion and reconciliation
  families;
* :mod:`.collectors`: the cached database collector (one collection reused for
  ``metrics_cache_seconds``) and the scheduler's;
* :mod:`.latency`: the HTTP latency histogram (an ASGI middleware labelled by route template);
* :mod:`connectors.scrape`: who may scrape what, and the worker's metrics server.

Here: the wiring. Every app gets registries of its own (:func:`build_metrics`): nothing is
registered on the global ``prometheus_client.REGISTRY``, so several apps in one process
(tests) do not clash. ``collect()`` still yields ordinary ``prometheus_client`` families for
any other consumer of the registry (``gpuhours worker``'s metrics server).

Speed (``tests/bench/bench_metrics.py``: 1,000 projects x 3 pools, about 22,000 series; the
target is a median under 30 ms a scrape without the cache): every sum is made by the database
in a fixed number of queries (:mod:`.business`), the samples are kept as their text lines
(:mod:`.families`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)

from connectors import scrape as scraping
from connectors.bootstrap import Services
from connectors.metrics.collectors import (
    DatabaseCollector,
    EnforceCollector,
    NotifyCollector,
    SchedulerCollector,
)
from connectors.metrics.latency import RequestDuration, latency_histogram
from connectors.scrape import Refused, audience, refusal


@dataclass
class Metrics:
    """The registries of one app or worker."""

    database: DatabaseCollector
    #: The process-local families: HTTP latency, scheduler, process, platform, GC.
    process: CollectorRegistry
    #: Everything, for any ``prometheus_client`` consumer.
    registry: CollectorRegistry

    def exposition(self, audience: str = "scraper") -> bytes:
        """The text exposition for an ``audience``: ``scraper`` (an authenticated scraper)
        gets everything (the database part rendered by the collector); ``anonymous`` only the
        process-local families (process, HTTP latency, scheduler), never the database's."""
        if audience == "anonymous":
            return generate_latest(self.process)
        return self.database.render().encode() + generate_latest(self.process)


def build_metrics(services: Services, cache_seconds: float | None = None) -> Metrics:
    # No `_created` series: they are not in the contract.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    process = CollectorRegistry()
    process.register(SchedulerCollector(services))
    process.register(NotifyCollector(services))
    process.register(EnforceCollector(services))
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        process.register(collector)
    database = DatabaseCollector(services, cache_seconds)
    registry = CollectorRegistry()
    registry.register(database)
    registry.register(process)  # a registry is a collector of its collectors' families
    return Metrics(database, process, registry)


def install(app: FastAPI, services: Services) -> Metrics:
    """``GET /metrics`` (not in the OpenAPI document; the business series for a scraper's
    token, see :func:`~connectors.scrape.audience`) and the latency middleware, on registries
    of the app's own."""
    metrics = build_metrics(services)
    app.state.metrics = metrics
    histogram = latency_histogram(metrics.process)
    app.state.latency = histogram  # the other faces' requests are observed in it too
    app.add_middleware(RequestDuration, histogram=histogram, routes=lambda: app.router.routes)

    @app.get("/metrics", include_in_schema=False)
    def scrape(request: Request) -> Response:
        """The Prometheus text exposition (``dashboards/METRICS.md``): everything for a
        scraper's bearer token, the process-local families without one."""
        try:
            client = request.client.host if request.client else None
            who = audience(services, request.headers.get("authorization"), client)
        except Refused as exc:
            body, headers = refusal(exc)
            return Response(body, exc.status, headers, media_type="application/json")
        return Response(metrics.exposition(who), media_type=CONTENT_TYPE_LATEST)

    return metrics


def serve_metrics(services: Services, port: int, host: str) -> Callable[[], None]:
    """``/metrics`` of a process without an API (``gpuhours worker``): see
    :func:`connectors.scrape.serve_metrics`."""
    return scraping.serve_metrics(services, build_metrics(services), port, host)
