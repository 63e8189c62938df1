"""A client generated from the live OpenAPI document drives a real server.

``openapi-python-client`` (a dev dependency) generates a Python client, at test time, from the
document a running ``gpuhours serve`` publishes (``/api/v1/openapi.json``); nothing generated
is kept in the repository. The generator runs with ``--fail-on-warning``: any part of the
document it cannot read (a media type, a 3.1 keyword, a link) fails the test, so the document
stays one that a standard generator takes whole. The client's methods are named by the
operation ids (``create_pool``, ``list_pools``), and every refusal is parsed into the one
documented ``Error`` model, with the field at fault: a 422 is not FastAPI's
``HTTPValidationError``, a 409 is not an undocumented status.

On SQLite and, when ``GPUHOURS_TEST_DATABASE_URL`` is set, on a PostgreSQL database of its own.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.api.live_server import generate_client, live_server

pytestmark = pytest.mark.slow
PACKAGE = "gpuhours_client"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """``(base URL, admin token)`` of a real ``gpuhours serve`` on each backend."""
    with live_server(request.param, tmp_path_factory.mktemp(request.param)) as served:
        yield served


@pytest.fixture(scope="module")
def client_package(
    server: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """The client generated from this server's document, imported."""
    where = tmp_path_factory.mktemp("client")
    generate_client(f"{server[0]}/api/v1/openapi.json", where, PACKAGE)
    sys.path.insert(0, str(where))
    try:
        package = importlib.import_module(PACKAGE)
        importlib.import_module(f"{PACKAGE}.models")
        yield package
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _api(package: ModuleType, tag: str, operation: str) -> Any:
    return importlib.import_module(f"{package.__name__}.api.{tag}.{operation}")


@pytest.fixture
def client(client_package: ModuleType, server: tuple[str, str]) -> Any:
    return client_package.AuthenticatedClient(base_url=server[0], token=server[1])


def _local_pool(models: Any, pool_id: str) -> Any:
    return models.PoolIn(
        id=pool_id,
        name=f"Pool {pool_id}",
        kind=models.PoolKind.LOCAL,
        inventory=[models.InventoryIn(gpu_type="a100", count=8)],
    )


def test_the_methods_are_named_by_what_they_do(client_package: ModuleType) -> None:
    api = Path(client_package.__file__).parent / "api"
    methods = {path.stem for path in api.rglob("*.py") if path.stem != "__init__"}
    assert {
        "list_pools",
        "create_pool",
        "submit_request",
        "approve_request",
        "import_statement",
        "get_reconciliation",
    } <= methods
    assert not [m for m in methods if "api_v1" in m or m.endswith(("_get", "_post"))]


def test_a_pool_created_with_the_client_is_listed(client_package: ModuleType, client: Any) -> None:
    models = client_package.models
    created = _api(client_package, "pools", "create_pool").sync_detailed(
        client=client, body=_local_pool(models, "gen-created")
    )
    assert created.status_code == 201
    assert isinstance(created.parsed, models.PoolOut)
    assert created.parsed.id == "gen-created"
    assert created.parsed.kind == models.PoolKind.LOCAL

    listed = _api(client_package, "pools", "list_pools").sync_detailed(client=client)
    assert listed.status_code == 200
    assert "gen-created" in {pool.id for pool in listed.parsed.items}


def test_invalid_input_is_parsed_into_the_documented_error(
    client_package: ModuleType, client: Any
) -> None:
    models = client_package.models
    answer = _api(client_package, "pools", "create_pool").sync_detailed(
        client=client, body=_local_pool(models, "not a slug")
    )
    assert answer.status_code == 422
    assert isinstance(answer.parsed, models.Error)
    assert answer.parsed.error.code == "invalid_input"
    assert answer.parsed.error.field == "id"
    assert answer.parsed.error.message.startswith("id: ")
    assert [e.field for e in answer.parsed.error.all_] == ["id"]
    assert not hasattr(models, "HTTPValidationError")


def test_a_conflict_is_parsed_into_the_documented_error(
    client_package: ModuleType, client: Any
) -> None:
    models = client_package.models
    create_pool = _api(client_package, "pools", "create_pool")
    assert create_pool.sync_detailed(client=client, body=_local_pool(models, "gen-twice"))
    again = create_pool.sync_detailed(client=client, body=_local_pool(models, "gen-twice"))
    assert again.status_code == 409
    assert isinstance(again.parsed, models.Error)
    assert again.parsed.error.code == "conflict"
    assert again.parsed.error.field == "id"
    assert "gen-twice" in again.parsed.error.message


def test_an_unknown_period_label_is_refused_before_any_lookup(
    client_package: ModuleType, client: Any
) -> None:
    models = client_package.models
    answer = _api(client_package, "accounting", "get_period").sync_detailed(
        period="2026Q9", client=client
    )
    assert answer.status_code == 422
    assert isinstance(answer.parsed, models.Error)
    assert answer.parsed.error.field == "period"
