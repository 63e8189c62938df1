"""The ``promtool`` and ``prometheus`` fixtures: skipped with a reason when absent, except in CI
(which installs them: Debian's ``prometheus`` package has both). The populated services of the
``/metrics`` tests (``services`` on each backend, ``sqlite_services``) and an app's ``client``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.bootstrap import Services, build
from connectors.db.migrate import upgrade
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.conftest import NOW, FixedClock
from tests.ops.metrics_support import populate

Promtool = Callable[..., subprocess.CompletedProcess[str]]


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = (
            f"{name} not found: install Debian's `prometheus` package "
            "(apt-get install prometheus), as .ci/run does"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; in CI it must be present")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def promtool() -> Promtool:
    binary = _binary("promtool")

    def run(
        *args: str | Path, cwd: Path | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cwd,
            check=False,
            input=stdin,
        )

    return run


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The path of the ``prometheus`` server binary."""
    return _binary("prometheus")


@pytest.fixture
def services(engine: Engine) -> Services:
    sv = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    sv.clock = FixedClock(NOW)
    populate(sv, NOW)
    return sv


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=services)) as c:
        yield c


@pytest.fixture
def sqlite_services(tmp_path: Path) -> Services:
    sv = build(Settings(database_url=f"sqlite:///{tmp_path / 'gpuhours.db'}"))
    upgrade(sv.engine)
    sv.clock = FixedClock(NOW)
    populate(sv, NOW)
    return sv
