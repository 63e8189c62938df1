"""Every Prometheus config of deploy/ sends the scrape token to every gpuhours ``/metrics``.

Without a token, ``/metrics`` answers only the process and health families; the business
series (project, chair, pool, account) need a bearer token of role ``scraper`` (or engineer,
admin), which Prometheus sends with its ``authorization`` scrape option. Checked: compose
(the token file is a compose secret mounted where the config reads it), systemd (the example
scrape jobs), Kubernetes (the example ConfigMap of scrape jobs, and its Secret); and each
config passes ``promtool check config`` (skipped, with the reason, without promtool).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helpers import (
    API_PORT,
    COMPOSE_DIR,
    COMPOSE_FILE,
    K8S_DIR,
    ROOT,
    SYSTEMD_DIR,
    WORKER_METRICS_PORT,
    load_yaml_documents,
)

PROMTOOL = shutil.which("promtool")


def compose_config() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE_DIR / "prometheus" / "prometheus.yml").read_text())  # type: ignore[no-any-return]


def systemd_config() -> dict[str, Any]:
    return yaml.safe_load((SYSTEMD_DIR / "prometheus-gpuhours.yml").read_text())  # type: ignore[no-any-return]


def k8s_config() -> dict[str, Any]:
    (doc,) = load_yaml_documents(K8S_DIR / "prometheus-scrape.example.yaml")
    return yaml.safe_load(doc["data"]["gpuhours-scrape.yml"])  # type: ignore[no-any-return]


CONFIGS = {"compose": compose_config, "systemd": systemd_config, "k8s": k8s_config}


def gpuhours_jobs(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [j for j in config["scrape_configs"] if j["job_name"].startswith("gpuhours")]


@pytest.mark.parametrize("where", sorted(CONFIGS))
def test_every_gpuhours_scrape_job_sends_the_scrape_token(where: str) -> None:
    jobs = gpuhours_jobs(CONFIGS[where]())
    assert jobs
    for job in jobs:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        auth = job["authorization"]
        assert auth.get("type", "Bearer") == "Bearer", job["job_name"]
        assert auth["credentials_file"].startswith("/"), job["job_name"]
        assert "credentials" not in auth  # never the token itself in a config


def test_compose_mounts_the_token_file_where_prometheus_reads_it() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    prometheus = compose["services"]["prometheus"]
    files = {job["authorization"]["credentials_file"] for job in gpuhours_jobs(compose_config())}
    mounted = {s["target"]: s["source"] for s in prometheus["secrets"]}
    assert files <= set(mounted)
    for target in files:
        source = compose["secrets"][mounted[target]]["file"]
        assert source.startswith("./secrets/")  # git-ignored, never committed
    gitignore = (COMPOSE_DIR / "secrets" / ".gitignore").read_text().splitlines()
    assert "*" in gitignore


def test_systemd_scrapes_the_api_and_the_worker_ports() -> None:
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in gpuhours_jobs(systemd_config())
    }
    assert targets == {
        "gpuhours-api": [f"127.0.0.1:{API_PORT}"],
        "gpuhours-worker": [f"127.0.0.1:{WORKER_METRICS_PORT}"],
    }


def test_the_k8s_token_file_is_the_example_secret() -> None:
    (job,) = gpuhours_jobs(k8s_config())
    path = Path(job["authorization"]["credentials_file"])
    secrets = {
        d["metadata"]["name"]: d for d in load_yaml_documents(K8S_DIR / "secret.example.yaml")
    }
    secret = secrets[path.parent.name]
    assert set(secret["stringData"]) == {path.name}


@pytest.mark.parametrize("where", sorted(CONFIGS))
def test_promtool_accepts_the_config(where: str, tmp_path: Path) -> None:
    if PROMTOOL is None:
        pytest.skip("promtool not found: install Debian's `prometheus` package")
    config = CONFIGS[where]()
    token = tmp_path / "token"
    token.write_text("gph_example\n")
    for job in gpuhours_jobs(config):
        job["authorization"]["credentials_file"] = str(token)
    if "rule_files" in config:
        config["rule_files"] = [str(ROOT / "dashboards" / "alerts.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    if "field kubernetes_sd_configs not found" in done.stdout + done.stderr:
        pytest.skip("this promtool is built without Kubernetes discovery (Debian's is)")
    assert done.returncode == 0, done.stdout + done.stderr
