"""Who may scrape ``/metrics`` (the API's and the worker's), and the worker's metrics server.

* no ``Authorization`` header: the **anonymous** audience, served only the process and health
  families (``Metrics.exposition("anonymous")``);
* a bearer token of role ``scraper``, ``engineer`` or ``admin``: every family;
* any other token: 401 (not valid) or 403 (a researcher), with the JSON error body, so that a
  misconfigured Prometheus shows a down target instead of silently losing the series.

The token is checked through the one authentication seam, ``Services.authenticator``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST

from allocator.model import Role
from connectors.bootstrap import Services
from connectors.throttle import client_key

log = logging.getLogger(__name__)

#: Roles whose bearer token reads the business series of ``/metrics``.
SCRAPER_ROLES = frozenset({Role.ADMIN, Role.ENGINEER, Role.SCRAPER})


class Exposition(Protocol):
    """What is served (``connectors.metrics.Metrics``): the text exposition for an audience."""

    def exposition(self, audience: str = "scraper") -> bytes: ...


class Refused(Exception):
    """A scrape refused: 401 (a token that is not valid), 403 (a role that may not) or 429
    (too many failed tokens from the address)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def audience(services: Services, authorization: str | None, client: str | None = None) -> str:
    """Who scrapes: ``anonymous`` without an ``Authorization`` header, ``scraper`` with the
    bearer token of an admin, engineer or scraper; :class:`Refused` otherwise (a wrong token is
    an error, not a silent anonymous scrape, so a misconfigured Prometheus shows up). Failed
    tokens count against the client's address like the API's (429 once throttled)."""
    if not authorization:
        return "anonymous"
    key = client_key(client)
    wait = services.auth_throttle.retry_after(key)
    if wait is not None:
        raise Refused(429, "too many failed authentications from this address", wait)
    scheme, _, credentials = authorization.partition(" ")
    user = None
    if scheme.lower() == "bearer" and credentials.strip():
        user = services.authenticator.authenticate(credentials.strip())
    if user is None:
        services.auth_throttle.failed(key)
        raise Refused(401, "a valid bearer token is required")
    if user.role not in SCRAPER_ROLES:
        raise Refused(
            403,
            f"forbidden: {user.username} is {user.role.value}; /metrics needs"
            " admin, engineer or scraper",
        )
    return "scraper"


def refusal(exc: Refused) -> tuple[bytes, dict[str, str]]:
    body = {
        "error": {
            "code": _CODES.get(exc.status, "forbidden"),
            "field": None,
            "message": exc.message,
        }
    }
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    if exc.retry_after is not None:
        headers = {"Retry-After": str(exc.retry_after)}
    return json.dumps(body).encode(), headers


_CODES = {401: "unauthenticated", 403: "forbidden", 429: "too_many_requests"}


def serve_metrics(
    services: Services, metrics: Exposition, port: int, host: str
) -> Callable[[], None]:
    """Serve ``metrics`` of a process without an API (``gpuhours worker``) on ``host:port``
    in a background thread, with the API's rule (:func:`audience`); returns the function that
    stops it."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: /metrics only\n"]
        try:
            who = audience(services, environ.get("HTTP_AUTHORIZATION"), environ.get("REMOTE_ADDR"))
        except Refused as exc:
            body, headers = refusal(exc)
            status = _STATUS_LINES[exc.status]
            start_response(status, [("Content-Type", "application/json"), *headers.items()])
            return [body]
        start_response(
            "200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Cache-Control", "no-store")]
        )
        return [metrics.exposition(who)]

    server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="gpuhours-metrics")
    thread.start()
    log.info("metrics: http://%s:%d/metrics", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


_STATUS_LINES = {401: "401 Unauthorized", 403: "403 Forbidden", 429: "429 Too Many Requests"}


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass
