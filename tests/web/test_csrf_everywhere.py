"""Every form of the portal refuses a request without its session's CSRF token: the POST
routes are read from the application's router (a new form is checked the day it is added),
each is sent by a signed-in administrator with no token, then a forged one, and each is
refused as a forgery (403) with no row written anywhere."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, table

from connectors import web
from connectors.bootstrap import Services
from connectors.web.app import create_portal
from tests.web.inprocess import sign_in

pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
#: What a path parameter is replaced with: ids and names that exist in the seeded world.
UPLOAD = {"file": ("statement.csv", b"job,seconds\n", "text/csv")}
PARAMETER = re.compile(r"\{(\w+)[^}]*\}")
SAMPLES = {"id": "1", "name": "alice", "username": "alice", "project": "P1"}


def portal_forms(services: Services) -> list[str]:
    """The POST routes of the portal's routers (every ``connectors.web`` module's
    ``router``, and the application's own), their parameters filled in."""
    modules = [
        importlib.import_module(m.name)
        for m in pkgutil.iter_modules(web.__path__, "connectors.web.")
    ]
    routers = [m.router for m in modules if isinstance(getattr(m, "router", None), APIRouter)]
    routes = [r for router in routers for r in router.routes]
    routes += create_portal(services.settings, services).routes
    paths = {r.path for r in routes if isinstance(r, APIRoute) and "POST" in r.methods}
    return sorted(f"/portal{PARAMETER.sub(_sample, path)}" for path in paths)


def _sample(found: re.Match[str]) -> str:
    return SAMPLES.get(found.group(1), "1")


def rows(services: Services) -> dict[str, int]:
    names = [n for n in inspect(services.engine).get_table_names() if n != "alembic_version"]
    with services.engine.connect() as db:
        return {
            n: db.execute(select(func.count()).select_from(table(n))).scalar_one() for n in names
        }


def test_every_portal_form_refuses_a_missing_or_forged_csrf_token_and_writes_nothing(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    forms = portal_forms(services)
    assert len(forms) >= 10 and "/portal/tokens" in forms
    before = rows(services)
    for path in forms:
        for csrf in ({}, {"csrf": "forged"}):
            # multipart: what the statement import reads; the other forms read it too
            answer = client.post(path, data=csrf | {"note": "x"}, files=UPLOAD)
            assert answer.status_code == 403, (path, csrf, answer.status_code)
    after = rows(services)
    assert after == before
