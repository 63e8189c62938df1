"""Security headers on every answer, fitted to what it is (ASGI middleware).

* every answer: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer``, and a ``Content-Security-Policy`` with
  ``frame-ancestors 'none'``;
* JSON, text, CSV (anything but HTML): ``default-src 'none'`` (nothing of it may load anything);
* an HTML report (``/api/v1/reports/{p}?format=html``): only its inline ``<style>`` may apply;
* the interactive documentation (``/api/v1/docs``, ``connectors/http/docs.py``): scripts,
  style sheets and images from this origin only (Swagger UI is served by gpuhours itself, no
  inline script, no CDN), and requests to this origin (the OpenAPI document, "try it out");
* ``Cache-Control: no-store`` on answers to authenticated requests (an ``Authorization``
  header) and on ``/metrics``, unless the route set its own.

The ``server`` banner is not sent: ``gpuhours serve`` starts uvicorn with
``server_header=False``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP_NONE = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
CSP_REPORT = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none';"
    " form-action 'none'"
)
CSP_DOCS = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = frozenset({"/api/v1/docs"})

COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def policy(path: str, content_type: str) -> str:
    """The Content-Security-Policy of an answer."""
    if path in DOCS_PATHS:
        return CSP_DOCS
    if content_type.split(";", 1)[0].strip().lower() == "text/html":
        return CSP_REPORT
    return CSP_NONE


def secure(headers: list[tuple[bytes, bytes]], path: str, authenticated: bool) -> None:
    """Add the security headers to an answer's ``headers`` (raw ASGI pairs), in place."""
    names = {name.lower() for name, _value in headers}
    content_type = next(
        (v.decode("latin-1") for n, v in headers if n.lower() == b"content-type"), ""
    )
    for name, value in COMMON:
        if name not in names:
            headers.append((name, value))
    if b"content-security-policy" not in names:
        headers.append((b"content-security-policy", policy(path, content_type).encode()))
    if (authenticated or path == "/metrics") and b"cache-control" not in names:
        headers.append((b"cache-control", b"no-store"))


class SecurityHeaders:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        authenticated = any(name.lower() == b"authorization" for name, _ in scope["headers"])

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                secure(headers, path, authenticated)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)
