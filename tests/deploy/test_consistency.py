"""What every deployment relies on: variable names, the probed paths, the image version."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml
from fastapi.testclient import TestClient

from connectors.db.migrate import upgrade
from connectors.http.app import create_app
from tests.deploy.helpers import (
    COMPOSE_FILE,
    ENV_NAME,
    K8S_DIR,
    OWN_FILES,
    ROOT,
    check_cli,
    settings_env_names,
    settings_from,
)


def test_there_are_deployment_files_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in OWN_FILES}
    assert {"deploy/Dockerfile", "deploy/compose/compose.yaml", "deploy/README.md"} <= names
    assert any(n.startswith("deploy/systemd/") for n in names)
    assert any(n.startswith("deploy/k8s/") for n in names)


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_gpuhours_variable_named_is_a_setting(path: Path) -> None:
    """A misspelt GPUHOURS_* variable is silently ignored by the service: catch it here."""
    unknown = set(ENV_NAME.findall(path.read_text())) - settings_env_names()
    assert not unknown, f"not fields of connectors/settings.py: {sorted(unknown)}"


def test_a_misspelt_variable_would_be_caught() -> None:
    assert ENV_NAME.findall("GPUHOURS_DATABASE_URI=x") == ["GPUHOURS_DATABASE_URI"]
    assert "GPUHOURS_DATABASE_URI" not in settings_env_names()
    assert "GPUHOURS_DATABASE_URL" in settings_env_names()


def test_image_tags_are_the_project_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    compose_image = yaml.safe_load(COMPOSE_FILE.read_text())["x-gpuhours"]["image"]
    assert compose_image == "${IMAGE:-gpuhours:" + version + "}"
    (image,) = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())["images"]
    assert image["newTag"] == version


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    settings = settings_from({"GPUHOURS_DATA_DIR": str(tmp_path)}, monkeypatch)
    app = create_app(settings)
    with TestClient(app) as c:
        yield c
    app.state.services.engine.dispose()


def test_probed_paths_exist_and_readiness_follows_the_migration(client: TestClient) -> None:
    """/healthz (liveness, HEALTHCHECK) answers at once; /readyz (readiness) only at head."""
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503  # an empty database: migrations pending
    upgrade(client.app.state.services.engine)  # type: ignore[attr-defined]
    assert client.get("/readyz").status_code == 200


def test_the_scraped_path_is_served(client: TestClient) -> None:
    contract = (ROOT / "dashboards" / "METRICS.md").read_text()
    assert re.search(r"`GET /metrics`", contract)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "args",
    [["wroker"], ["serve", "--no-schedule"], ["serve", "--workers", "0"], ["token"], []],
    ids=["unknown-command", "unknown-option", "bad-value", "group-without-command", "nothing"],
)
def test_the_cli_check_refuses_what_the_cli_would(args: list[str]) -> None:
    with pytest.raises(click.UsageError):
        check_cli(args)
