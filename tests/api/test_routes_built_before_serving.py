"""Two applications of one process (two replicas in a test, the API and the portal in one
server) share the routers of the modules that declare them. FastAPI builds a route's
parameters and response models at the first request that walks its router; two first requests
in two threads once built the same pydantic schemas at once and one answered 500 (CI, stop 21).
Each factory now builds every route before it returns: a first request builds nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from connectors.http.app import create_app
from connectors.settings import Settings
from connectors.web.app import create_portal

Factory = Callable[..., FastAPI]


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the routes FastAPI builds, in order, while the test runs."""
    built: list[str] = []
    real = fastapi.routing._EffectiveRouteContext.from_api_route.__func__  # type: ignore[attr-defined]

    def counting(cls: type, **kwargs: Any) -> Any:
        built.append(kwargs["original_route"].path)
        return real(cls, **kwargs)

    monkeypatch.setattr(
        fastapi.routing._EffectiveRouteContext, "from_api_route", classmethod(counting)
    )
    return built


@pytest.mark.parametrize(
    ("factory", "first_requests"),
    [
        (create_app, ["/api/v1/pools", "/api/v1/balances", "/healthz", "/nowhere"]),
        (create_portal, ["/signin", "/projects", "/nowhere"]),
    ],
    ids=["api", "portal"],
)
def test_a_face_builds_every_route_before_its_first_request(
    factory: Factory, first_requests: list[str], builds: list[str], tmp_path: Path
) -> None:
    app = factory(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}"))
    built_by_the_factory = len(builds)

    with TestClient(app) as client:
        for path in first_requests:
            client.get(path)

    assert builds[built_by_the_factory:] == []
    # every operation of an included router was built (those declared on the app itself are
    # built when declared)
    operations = sum(len(methods) for methods in app.openapi()["paths"].values())
    declared_on_the_app = sum(len(r.methods) for r in app.routes if isinstance(r, APIRoute))
    assert operations > declared_on_the_app
    assert built_by_the_factory >= operations - declared_on_the_app
