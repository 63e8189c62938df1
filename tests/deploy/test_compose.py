"""deploy/compose: the compose-spec schema, and what the schema cannot see.

The schema is the compose-spec JSON schema (github.com/compose-spec/compose-spec,
Apache-2.0) as vendored by the PyPI package check-jsonschema (its builtin schema
``vendor.compose-spec``), read from the installed package: no network.
"""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.deploy.helpers import (
    API_PORT,
    COMPOSE_DIR,
    COMPOSE_FILE,
    DEPLOY,
    ROOT,
    WORKER_METRICS_PORT,
    check_cli,
    interpolate,
    settings_env_names,
    settings_from,
)

GPUHOURS_SERVICES = {
    "migrate": ["migrate"],
    "api": ["serve", "--no-scheduler"],
    "worker": ["worker"],
}
PASSWORD = "0123abcd"


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.protocols.Validator:
    text = (
        resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    ).read_text()
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def errors(validator: jsonschema.protocols.Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_compose_file_is_valid_against_the_compose_spec(
    schema_validator: jsonschema.protocols.Validator, compose: dict[str, Any]
) -> None:
    assert errors(schema_validator, compose) == []


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda c: c["services"]["api"].update(command_line="serve"), "services/api"),
        (
            lambda c: c["services"]["api"]["depends_on"]["migrate"].update(
                condition="service_completed"
            ),
            "services/api/depends_on/migrate/condition",
        ),
        (
            lambda c: c["services"]["postgres"].update(restart=["always"]),
            "services/postgres/restart",
        ),
        (lambda c: c.update(volume={"pgdata": None}), ""),
    ],
    ids=["unknown-key", "bad-condition", "wrong-type", "unknown-top-level-key"],
)
def test_the_schema_check_catches_mistakes(
    schema_validator: jsonschema.protocols.Validator,
    compose: dict[str, Any],
    mutate: Any,
    where: str,
) -> None:
    broken = copy.deepcopy(compose)
    mutate(broken)
    found = errors(schema_validator, broken)
    assert found, "the schema accepted a broken file"
    # Reported at the mistake or at an enclosing object (oneOf branches), never elsewhere.
    paths = [e.partition(":")[0] for e in found]
    assert all(where.startswith(p) and (p or not where) for p in paths), found


def test_services_and_their_gpuhours_commands(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"postgres", *GPUHOURS_SERVICES, "prometheus", "grafana"}
    for name, args in GPUHOURS_SERVICES.items():
        service = services(compose)[name]
        assert service["command"] == args, name
        check_cli(service["command"])
        # One image, built from the repository root with deploy/Dockerfile.
        assert service["build"] == {"context": "../..", "dockerfile": "deploy/Dockerfile"}
        assert (COMPOSE_DIR / "../..").resolve() == ROOT
        assert service["image"] == services(compose)["api"]["image"]


def test_migrate_completes_before_api_and_worker_start(compose: dict[str, Any]) -> None:
    migrate = services(compose)["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("api", "worker"):
        assert services(compose)[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name


def test_postgres_16_with_a_health_check_and_a_volume(compose: dict[str, Any]) -> None:
    postgres = services(compose)["postgres"]
    assert postgres["image"].split(":")[1].split("-")[0] == "16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume, _, target = postgres["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data" and volume in compose["volumes"]


def gpuhours_env(service: dict[str, Any]) -> dict[str, str]:
    return {
        k: interpolate(str(v), {"POSTGRES_PASSWORD": PASSWORD})
        for k, v in service["environment"].items()
    }


def test_environment_is_settings_and_builds_them(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    clusters_source = COMPOSE_DIR / interpolate(compose["configs"]["clusters"]["file"])
    for name in GPUHOURS_SERVICES:
        service = services(compose)[name]
        env = gpuhours_env(service)
        assert set(env) <= settings_env_names(), name
        # The clusters file is the compose config mounted where GPUHOURS_CLUSTERS_FILE says.
        (config,) = service["configs"]
        assert config == {"source": "clusters", "target": env["GPUHOURS_CLUSTERS_FILE"]}
        settings = settings_from(
            {**env, "GPUHOURS_CLUSTERS_FILE": str(clusters_source)}, monkeypatch
        )
        assert settings.port == API_PORT
        assert settings.host == "0.0.0.0"
        # Only the worker serves /metrics on a port of its own (the API on its API port).
        expected_metrics_port = WORKER_METRICS_PORT if name == "worker" else None
        assert settings.metrics_port == expected_metrics_port, name
        assert settings.clusters, "the example clusters file configures no cluster"
        # The database is the postgres service, as its own environment creates it.
        url = make_url(settings.database_url)
        postgres_env = services(compose)["postgres"]["environment"]
        assert url.drivername == "postgresql+psycopg"
        assert (url.host, url.port) == ("postgres", 5432)
        assert url.username == postgres_env["POSTGRES_USER"]
        assert url.database == postgres_env["POSTGRES_DB"]
        assert url.password == PASSWORD  # interpolated from .env, never written in the file
    raw_url = services(compose)["api"]["environment"]["GPUHOURS_DATABASE_URL"]
    assert re.search(r":\$\{POSTGRES_PASSWORD:\?[^}]+\}@", raw_url), raw_url
    assert services(compose)["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    )


def test_the_env_example_names_every_interpolated_variable(compose: dict[str, Any]) -> None:
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    example = {
        line.partition("=")[0]
        for line in (COMPOSE_DIR / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert used == example
    assert not any(name.startswith("GPUHOURS_") for name in used)  # those are the app's


def test_the_slurm_key_is_a_secret_given_to_the_worker_only(compose: dict[str, Any]) -> None:
    worker = services(compose)["worker"]
    (secret,) = worker["secrets"]
    assert secret["source"] in compose["secrets"]
    assert "file" in compose["secrets"][secret["source"]]
    for name, service in services(compose).items():
        if name != "worker":
            assert secret["source"] not in [
                s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])
            ], name
    # The example clusters file reads the key where the secret is mounted.
    clusters = json.loads((COMPOSE_DIR / "clusters.example.json").read_text())
    assert {c["jwt_key_file"] for c in clusters} == {secret["target"]}
    # The secrets directory keeps its contents out of git.
    assert (COMPOSE_DIR / "secrets" / ".gitignore").read_text().splitlines()[-2:] == [
        "*",
        "!.gitignore",
    ]


def test_the_oidc_providers_are_settings_and_their_secret_is_the_apis_only(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The .env example's commented provider, once uncommented, builds settings whose client
    secret file is where compose mounts the api's secret (and the default is no provider)."""
    api = services(compose)["api"]
    (secret,) = api["secrets"]
    assert compose["secrets"][secret["source"]]["file"].startswith("${OIDC_CLIENT_SECRET_FILE")
    for name, service in services(compose).items():
        if name != "api":
            assert secret["source"] not in [
                s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])
            ], name
    env_line = compose["x-gpuhours"]["environment"]["GPUHOURS_OIDC_PROVIDERS"]
    assert json.loads(interpolate(env_line)) == []
    example = (COMPOSE_DIR / ".env.example").read_text()
    (line,) = re.findall(r"^#   OIDC_PROVIDERS=(.+)$", example, re.M)
    providers = json.loads(interpolate(env_line, {"OIDC_PROVIDERS": line}))
    settings = settings_from({"GPUHOURS_OIDC_PROVIDERS": json.dumps(providers)}, monkeypatch)
    (provider,) = settings.oidc_providers
    assert str(provider.client_secret_file) == secret["target"]
    assert [(r.claim, r.value, r.project) for r in provider.project_rules] == [
        ("groups", "hpc-llm", "llm-2026")
    ]


def test_http_health_checks_only_where_http_is_served(compose: dict[str, Any]) -> None:
    # The image's HEALTHCHECK asks /healthz: kept for the API, off for the worker and migrate.
    assert "healthcheck" not in services(compose)["api"]
    for name in ("worker", "migrate"):
        assert services(compose)[name]["healthcheck"] == {"disable": True}, name


def container_port(mapping: str) -> int:
    return int(interpolate(mapping).rsplit(":", 1)[1])


def test_published_ports_are_local_and_the_api_port_is_the_settings_port(
    compose: dict[str, Any],
) -> None:
    for name, service in services(compose).items():
        for mapping in service.get("ports", []):
            assert interpolate(mapping).startswith("127.0.0.1:"), (name, mapping)
    assert [container_port(p) for p in services(compose)["api"]["ports"]] == [API_PORT]
    # The worker's /metrics is for Prometheus on the compose network, not for the host.
    assert "ports" not in services(compose)["worker"]


def bind(service: dict[str, Any], target: str) -> dict[str, Any]:
    for volume in service["volumes"]:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            if rest.split(":")[0] == target:
                return {"source": source, "target": target, "read_only": rest.endswith(":ro")}
        elif volume["target"] == target:
            return volume  # type: ignore[no-any-return]
    raise AssertionError(f"nothing mounted at {target}")


def metrics_path_of_the_contract() -> str:
    text = (ROOT / "dashboards" / "METRICS.md").read_text()
    # the contract opens by naming the scrape path; other `GET` paths it cites are API reads
    (path,) = set(re.findall(r"`GET (/\S*)` serves the Prometheus text exposition format", text))
    return path


def test_prometheus_scrapes_the_api_and_the_worker_and_loads_the_alert_rules(
    compose: dict[str, Any],
) -> None:
    prometheus = services(compose)["prometheus"]
    (flag,) = [f for f in prometheus["command"] if f.startswith("--config.file=")]
    config_mount = bind(prometheus, flag.partition("=")[2])
    assert (
        COMPOSE_DIR / config_mount["source"]
    ).resolve() == COMPOSE_DIR / "prometheus" / "prometheus.yml"
    config = yaml.safe_load((COMPOSE_DIR / "prometheus" / "prometheus.yml").read_text())

    # dashboards/alerts.yml (written elsewhere) mounted by path, never created by compose.
    (rule_file,) = config["rule_files"]
    alerts = bind(prometheus, rule_file)
    assert (COMPOSE_DIR / alerts["source"]).resolve() == ROOT / "dashboards" / "alerts.yml"
    assert alerts["read_only"] is True and alerts["bind"]["create_host_path"] is False

    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api_job = jobs["gpuhours-api"]
    assert api_job["metrics_path"] == metrics_path_of_the_contract() == "/metrics"
    (sd,) = api_job["dns_sd_configs"]
    assert sd["names"] == ["api"] and sd["type"] == "A"
    assert sd["port"] == API_PORT

    # Every worker (leader and standbys) on the port its GPUHOURS_METRICS_PORT sets: the
    # scheduler leader gauge and the last success per task exist there only.
    worker_env = gpuhours_env(services(compose)["worker"])
    worker_job = jobs["gpuhours-worker"]
    assert worker_job["metrics_path"] == "/metrics"
    (sd,) = worker_job["dns_sd_configs"]
    assert sd["names"] == ["worker"] and sd["type"] == "A"
    assert sd["port"] == int(worker_env["GPUHOURS_METRICS_PORT"]) == WORKER_METRICS_PORT
    assert worker_env["GPUHOURS_HOST"] == "0.0.0.0"  # reachable from the Prometheus container
    assert set(jobs) == {"gpuhours-api", "gpuhours-worker", "prometheus"}


def test_the_alert_rules_file_compose_mounts_is_a_rules_file() -> None:
    path = ROOT / "dashboards" / "alerts.yml"
    rules = yaml.safe_load(path.read_text())
    assert isinstance(rules, dict) and isinstance(rules.get("groups"), list) and rules["groups"]


def test_grafana_provisions_the_datasource_and_every_dashboard_json(
    compose: dict[str, Any],
) -> None:
    grafana = services(compose)["grafana"]
    provisioning = bind(grafana, "/etc/grafana/provisioning")
    assert (
        COMPOSE_DIR / provisioning["source"]
    ).resolve() == COMPOSE_DIR / "grafana" / "provisioning"
    base = COMPOSE_DIR / "grafana" / "provisioning"

    (datasource,) = yaml.safe_load((base / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    prometheus_port = container_port(services(compose)["prometheus"]["ports"][0])
    assert datasource["type"] == "prometheus" and datasource["isDefault"] is True
    assert datasource["url"] == f"http://prometheus:{prometheus_port}"

    (provider,) = yaml.safe_load((base / "dashboards" / "gpuhours.yml").read_text())["providers"]
    assert provider["type"] == "file"
    mount = bind(grafana, provider["options"]["path"])
    assert (COMPOSE_DIR / mount["source"]).resolve() == ROOT / "dashboards"
    assert mount["read_only"] is True and mount["bind"]["create_host_path"] is False

    # The admin password is a file (a secret), never a value in compose.yaml.
    password_file = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    assert password_file in [s["target"] for s in grafana["secrets"]]
    assert not any("PASSWORD" in k and not k.endswith("__FILE") for k in grafana["environment"])


@pytest.mark.parametrize("path", sorted((ROOT / "dashboards").glob("*.json")), ids=lambda p: p.name)
def test_each_dashboard_loads_through_file_provisioning(path: Path) -> None:
    """Provisioned dashboards get no import step: no ``${DS_...}`` input may be left to fill."""
    dashboard = json.loads(path.read_text())
    assert dashboard.get("uid"), "a provisioned dashboard needs a stable uid"
    inputs = {i["name"] for i in dashboard.get("__inputs", [])}
    body = json.dumps({k: v for k, v in dashboard.items() if k != "__inputs"})
    assert not [name for name in inputs if "${" + name + "}" in body]


def test_every_reference_is_declared(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for kind in ("secrets", "configs"):
            for ref in service.get(kind, []):
                source = ref if isinstance(ref, str) else ref["source"]
                assert source in compose[kind], (name, kind, source)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith("."):
                assert source in compose["volumes"], (name, source)
            else:
                assert (COMPOSE_DIR / source).resolve().is_relative_to(ROOT), source
    assert (DEPLOY / "Dockerfile").is_file()
