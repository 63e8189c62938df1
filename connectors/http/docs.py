"""The interactive API documentation, served by gpuhours itself: it works without internet.

Swagger UI's files come from an installed package (``fastapi-offline``, which bundles Swagger
UI 5, Apache-2.0, for exactly this: no CDN), not from a CDN:

* ``GET /api/v1/docs``: the page; it names no other origin, and loads only
* ``GET /api/v1/docs/assets/{name}``: Swagger UI's script, style sheet and icon (an allow-list:
  nothing else of the package's directory is served), and ``docs.js``, the few lines that
  start Swagger UI on the OpenAPI document (a file, so the page needs no inline script: its
  ``Content-Security-Policy`` allows scripts and styles from 'self' only, see
  ``connectors/http/headers.py``);
* ``GET /``: a redirect to the documentation, for the API served alone (``gpuhours serve``
  serves ``connectors.composition``, whose ``/`` leads to the portal).
"""

from __future__ import annotations

import importlib.resources
from html import escape
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

DOCS_URL = "/api/v1/docs"
ASSETS_URL = f"{DOCS_URL}/assets"

#: Where the package keeps Swagger UI's files (a directory inside the installed wheel).
SWAGGER_UI = Path(str(importlib.resources.files("fastapi_offline") / "static"))

#: The files the page may load: name -> media type.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}

#: Starts Swagger UI on the document named by the page (``data-openapi-url``).
START = """\
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    displayOperationId: true,
    showExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
})();
"""

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}: API documentation</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/docs.js"></script>
</body>
</html>
"""


def page(title: str, openapi_url: str, root_path: str = "") -> str:
    """The documentation page: every URL in it is a path on this server."""
    return PAGE.format(
        title=escape(title),
        assets=escape(root_path + ASSETS_URL),
        openapi=escape(root_path + openapi_url),
    )


def install(app: FastAPI) -> None:
    """Serve the documentation page, its assets and the ``/`` redirect on ``app``."""
    openapi_url = app.openapi_url or "/api/v1/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def api_docs(request: Request) -> HTMLResponse:
        return HTMLResponse(page(app.title, openapi_url, request.scope.get("root_path", "")))

    @app.get(f"{ASSETS_URL}/{{name}}", include_in_schema=False)
    async def api_docs_asset(name: str) -> Response:
        # Versioned with the package: a browser may keep them a day.
        cache = {"Cache-Control": "public, max-age=86400"}
        if name == "docs.js":
            return Response(START, media_type="text/javascript; charset=utf-8", headers=cache)
        if name not in ASSETS:
            raise HTTPException(404, f"no documentation asset {name!r}")
        return FileResponse(SWAGGER_UI / name, media_type=ASSETS[name], headers=cache)

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> RedirectResponse:
        return RedirectResponse(request.scope.get("root_path", "") + DOCS_URL, status_code=307)
