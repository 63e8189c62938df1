"""``/metrics`` of running processes: the scheduler's families, the worker's metrics port, and a
real Prometheus scraping a running ``gpuhours serve`` and loading the alert rules (every
dashboard expression returns data, every alert expression evaluates, every rule is healthy).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from connectors.bootstrap import build
from connectors.db.migrate import upgrade
from connectors.http.app import create_app
from connectors.scheduler import FileLeader, JobSpec, SchedulerService
from connectors.settings import Settings
from tests.ops import promql
from tests.ops.metrics_support import (
    BUSINESS_LABELS,
    free_port,
    get,
    gpuhours_env,
    populated_database,
    query,
    samples,
    start,
    wait_for,
)
from tests.scheduler.conftest import FakeSlurmrestd, slurmrestd  # noqa: F401 (a fixture)

# --- the scheduler's families ------------------------------------------------------------------


def job_succeeds() -> bool:
    return True


def job_fails() -> bool:
    return False


def job_returns_nothing() -> None:
    pass


def test_the_scheduler_reports_leadership_and_the_last_success_of_each_task(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'gpuhours.db'}"
    sv = build(Settings(database_url=url))
    upgrade(sv.engine)
    every = timedelta(seconds=60)
    jobs = {
        "test": lambda _s: [
            JobSpec("ok", job_succeeds, (), every),
            JobSpec("failed", job_fails, (), every),
            JobSpec("plain", job_returns_nothing, (), every),
        ]
    }
    service = SchedulerService(sv, FileLeader(None), jobs=jobs, retry_seconds=0.1)
    registry_app = create_app(services=sv)
    service.tick()
    try:
        deadline = time.monotonic() + 10
        while len(sv.scheduler_status.last_success) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # "failed" ran too by now
        with TestClient(registry_app) as c:
            found = samples(c.get("/metrics").text)
    finally:
        service.stop()
    tasks = {
        s.labels["task"]
        for s in found
        if s.name == "gpuhours_scheduler_job_last_success_timestamp_seconds"
    }
    assert tasks == {"ok", "plain"}
    assert [s.value for s in found if s.name == "gpuhours_scheduler_leader"] == [1]
    assert sv.scheduler_status.leader is False  # stepped down


@pytest.mark.slow
def test_the_worker_serves_its_metrics_on_the_metrics_port(
    tmp_path: Path,
    slurmrestd: FakeSlurmrestd,  # noqa: F811
) -> None:
    url, token = populated_database(tmp_path, datetime.now(UTC))
    port = free_port()
    env = gpuhours_env(url, slurmrestd, GPUHOURS_METRICS_PORT=str(port))
    worker = start([sys.executable, "-m", "connectors.cli", "worker"], env, tmp_path / "w.log")
    try:
        scrape = f"http://127.0.0.1:{port}/metrics"

        def leads_and_ran() -> bool:
            text = get(scrape)
            return (
                "gpuhours_scheduler_leader 1.0" in text
                and 'gpuhours_scheduler_job_last_success_timestamp_seconds{task="ingest:alpha"}'
                in text
            )

        wait_for(leads_and_ran, 20, "the worker's metrics", worker.output)
        anonymous = samples(get(scrape))
        assert [s for s in anonymous if BUSINESS_LABELS & set(s.labels)] == []
        names = {s.name for s in samples(get(scrape, token=token))}
        assert "gpuhours_project_allocated_gpu_seconds" in names  # the database families too
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(scrape, token="gph_not-a-token")
        assert refused.value.code == 401
    finally:
        worker.stop()
    assert worker.process.returncode == 0, worker.output()


# --- a real Prometheus ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.promtool
def test_a_real_prometheus_answers_every_dashboard_and_alert_expression(
    tmp_path: Path,
    prometheus_binary: str,
    slurmrestd: FakeSlurmrestd,  # noqa: F811
) -> None:
    url, token = populated_database(tmp_path, datetime.now(UTC))
    credentials = tmp_path / "gpuhours-scrape-token"
    credentials.write_text(token + "\n")
    port, prom_port = free_port(), free_port()
    env = gpuhours_env(url, slurmrestd, GPUHOURS_METRICS_CACHE_SECONDS="0")
    server = start(
        [sys.executable, "-m", "connectors.cli", "serve", "--port", str(port)],
        env,
        tmp_path / "serve.log",
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(promql.ALERTS)],
                "scrape_configs": [
                    {
                        "job_name": "gpuhours",
                        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                        # the scrape token, as deploy/*/prometheus configs send it
                        "authorization": {"credentials_file": str(credentials)},
                    }
                ],
            }
        )
    )
    prometheus = start(
        [
            prometheus_binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        {},
        tmp_path / "prometheus.log",
    )
    base = f"http://127.0.0.1:{prom_port}"
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz"), 20, "gpuhours", server.output)
        wait_for(lambda: get(f"{base}/-/ready"), 20, "Prometheus", prometheus.output)

        def scraped_enough() -> bool:
            # A few scrapes (rates need two samples), and one after the scheduler ran a job.
            result = query(base, "count_over_time(gpuhours_scheduler_leader[1m])")["data"]
            jobs = query(base, "gpuhours_scheduler_job_last_success_timestamp_seconds")["data"]
            return bool(
                result["result"] and float(result["result"][0]["value"][1]) >= 4 and jobs["result"]
            )

        wait_for(scraped_enough, 25, "four scrapes", lambda: server.output() + prometheus.output())

        def rules_evaluated() -> bool:
            groups = json.loads(get(f"{base}/api/v1/rules"))["data"]["groups"]
            return all(r["health"] != "unknown" for g in groups for r in g["rules"])

        wait_for(rules_evaluated, 10, "the rules' first evaluation", prometheus.output)

        empty, failed = [], []
        for e in promql.expressions():
            answer = query(base, e.expr)
            if answer.get("status") != "success":
                failed.append(f"{e.source}: {answer.get('error')}")
            elif not e.source.startswith("alerts.yml") and not answer["data"]["result"]:
                empty.append(f"{e.source}: {e.expr}")
        assert failed == []
        assert empty == []
        # An alert expression answers only while its alert fires (the promtool unit tests in
        # test_alerts.py make each one fire on crafted series); here every series it reads
        # must have data from the running gpuhours, so each alert can see what it watches.
        inputs_without_data = [
            f"{e.source}: {name}"
            for e in promql.alert_expressions()
            for name in sorted(promql.metric_names(e.expr))
            if not query(base, name)["data"]["result"]
        ]
        assert inputs_without_data == []

        groups = json.loads(get(f"{base}/api/v1/rules"))["data"]["groups"]
        rules = {
            r["name"]: (r["health"], r.get("lastError", "")) for g in groups for r in g["rules"]
        }
        expected = {r["alert"] for r in promql.alert_rules()}
        assert set(rules) == expected
        assert {name: h for name, h in rules.items() if h[0] != "ok"} == {}
    finally:
        prometheus.stop()
        server.stop()
