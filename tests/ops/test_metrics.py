"""``GET /metrics`` against the contract (dashboards/METRICS.md), the API and a real Prometheus.

* ``promtool check metrics`` finds nothing to say about a real scrape;
* every family of the contract is in the scrape, with exactly its labels, and nothing else
  named ``gpuhours_*`` is;
* the balance families equal ``GET /api/v1/balances`` for every project and pool (SQLite and
  PostgreSQL);
* the scheduler's families and the worker's metrics port;
* a real Prometheus scrapes a running ``gpuhours serve`` and loads the alert rules: every
  dashboard expression returns data, every alert expression evaluates, every rule is healthy.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from accounting.errors import UsageSourceError
from accounting.ingestion import Quarantined, UsageBatch, Window
from accounting.reconcile import Status
from accounting.services import burns, close_period, import_statement, reconcile
from accounting.statements import NATIONAL_CSV
from allocator import services as svc
from allocator.model import Role, User
from allocator.periods import period_containing
from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.db import tables as t
from connectors.db.consumption import consumption_by_project
from connectors.db.migrate import upgrade
from connectors.db.usage_store import SqlUsageStore
from connectors.demo import seed
from connectors.http.app import create_app
from connectors.scheduler import FileLeader, JobSpec, SchedulerService
from connectors.settings import Settings
from tests.builders import usage_record
from tests.conftest import NOW, FixedClock
from tests.ops import promql
from tests.ops.conftest import Promtool
from tests.scheduler.conftest import FakeSlurmrestd, slurmrestd  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
ADMIN = User("admin", Role.ADMIN)
H = 3600


# --- data: the demo organisation, ingested usage, a failure, a statement, a closed period -------


def record(cluster: str, job_id: int, account: str, start: int, hours: float, **kw: Any) -> Any:
    gpu_type, gpus = kw.pop("gpu", ("a100", 1))
    return usage_record(
        start,
        int(hours * H),
        gpus,
        **{
            "cluster": cluster,
            "job_id": job_id,
            "submit": start - 60,
            "account": account,
            "gpus_by_type": ((gpu_type, gpus),),
            **kw,
        },
    )


def populate(sv: Services, now: datetime) -> None:
    """Demo data and at least one series of every family of the contract (except the
    scheduler's, which need a running scheduler)."""
    seed(sv.uow(), now, sv.settings.calendar)
    t = int(now.timestamp())
    current = period_containing(now, sv.settings.period_scheme)
    previous = period_containing(current.start - timedelta(days=1), sv.settings.period_scheme)
    q3 = int(previous.start.timestamp()) + 10 * 86400
    store = SqlUsageStore(sv.engine, sv.settings.calendar)
    month = Window(t - 90 * 86400, t)
    local = [
        record("enact-dev", 1, "proj-thesis-01", t - 3 * 86400, 6, gpu=("a100", 2)),
        record("enact-dev", 2, "chair-nlp", t - 86400, 10, gpu=("h100", 4)),
        record("enact-dev", 3, "vision-01", t - 7200, 2, state="RUNNING", end=None),
        record("enact-dev", 4, "no-such-account", t - 5 * H, 1),  # unmapped
    ]
    bad = [Quarantined("unparsable record", '{"job_id": 99}', 99)]
    store.store_window("enact-dev", month, UsageBatch(local, bad), t, t - 600)
    national = [
        record("jean-zay", 10, "nlp1@a100", t - 2 * 86400, 12, gpu=("a100", 8)),
        record("jean-zay", 11, "hlt1@h100", t - 6 * 86400, 20, gpu=("h100", 4)),
        record("jean-zay", 12, "nlp1@a100", q3, 10, gpu=("a100", 4)),  # the closed period
    ]
    store.store_window("jean-zay", Window(q3 - 86400, t), UsageBatch(national), t, t - 300)
    store.store_window(
        "other", month, UsageBatch([record("other", 20, "x", t - 4 * H, 3)]), t, t
    )  # no pool routes cluster "other"
    failure = UsageSourceError("timeout", "read timed out", transient=True)
    store.record_failure("other", Window(t, t + 600), failure, t)
    svc.adjust(
        sv.uow(),
        ADMIN,
        now,
        "enact-local",
        "proj-thesis-01",
        current.label,
        5 * H,
        "test credit",
        calendar=sv.settings.calendar,
    )
    statement = (
        "project_account,hardware,period,hours_consumed,normalised_hours\n"
        f"nlp1@a100,a100,{previous.label},30,60\n"
    )
    import_statement(
        sv.uow(),
        ADMIN,
        now,
        "ai2f-jz",
        previous.label,
        NATIONAL_CSV,
        statement.encode(),
        "s.csv",
        calendar=sv.settings.calendar,
    )
    close_period(
        sv.uow(),
        ADMIN,
        now,
        previous.label,
        "closed for the test",
        force=True,
        calendar=sv.settings.calendar,
    )


# --- scrapes -------------------------------------------------------------------------------------


def scrape_token(sv: Services, role: Role = Role.SCRAPER, username: str = "prometheus") -> str:
    """A bearer token of ``username`` (created with ``role`` if absent): what Prometheus sends
    with its ``authorization`` scrape option."""
    with sv.uow() as uow:
        if uow.users.get(username) is None:
            uow.users.add(User(username, role))
            uow.commit()
    return mint_token(sv.session_factory, username, NOW)


def scrape(c: TestClient, sv: Services) -> Any:
    """``GET /metrics`` as the authenticated scraper (every family)."""
    return c.get("/metrics", headers={"Authorization": f"Bearer {scrape_token(sv)}"})


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def samples(text: str) -> list[Sample]:
    return [
        Sample(s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def series(found: list[Sample], name: str) -> dict[tuple[str, ...], float]:
    """``{(pool, project): value}`` of a project family (``(pool,)`` for pool families)."""
    out = {}
    for s in found:
        if s.name == name:
            key = tuple(s.labels[k] for k in ("pool", "project") if k in s.labels)
            out[key] = s.value
    return out


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


def test_promtool_check_metrics_finds_no_problem_in_a_scrape(
    sqlite_services: Services, promtool: Promtool
) -> None:
    sqlite_services.scheduler_status.last_success["ingest:enact-dev"] = NOW.timestamp()
    with TestClient(create_app(services=sqlite_services)) as c:
        c.get("/healthz")
        response = scrape(c, sqlite_services)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    result = promtool("check", "metrics", stdin=response.text)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_scrape_has_every_family_of_the_contract_with_its_labels(
    sqlite_services: Services,
) -> None:
    sqlite_services.scheduler_status.last_success["ingest:enact-dev"] = NOW.timestamp()
    with TestClient(create_app(services=sqlite_services)) as c:
        c.get("/healthz")
        text = scrape(c, sqlite_services).text
    contract = promql.contract()
    found: dict[str, set[frozenset[str]]] = {}
    for s in samples(text):
        if s.name.startswith("gpuhours_"):
            found.setdefault(s.name, set()).add(frozenset(s.labels))
    assert sorted(set(found) - set(contract)) == []  # nothing outside the contract
    assert sorted(set(contract) - set(found)) == []  # every family has data
    wrong = {name: labels for name, labels in found.items() if labels != {contract[name]}}
    assert wrong == {}


def test_metrics_is_not_in_the_openapi_document_and_answers_without_a_token(
    client: TestClient,
) -> None:
    assert "/metrics" not in client.get("/api/v1/openapi.json").json()["paths"]
    assert client.get("/metrics").status_code == 200  # the anonymous families, see below


def test_the_balance_families_equal_the_api_balances(
    services: Services, client: TestClient
) -> None:
    period = period_containing(NOW).label
    token = mint_token(services.session_factory, "admin", NOW)
    api = client.get(
        "/api/v1/balances", params={"period": period}, headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 200, api.text
    rows = {(b["pool_id"], b["project_id"]): b for b in api.json()}
    assert any(b["consumed_seconds"] for b in rows.values())
    assert any(b["consumed_provisional_seconds"] for b in rows.values())
    assert any(b["adjustments_seconds"] for b in rows.values())

    found = samples(scrape(client, services).text)
    allocated = series(found, "gpuhours_project_allocated_gpu_seconds")
    consumed = series(found, "gpuhours_project_consumed_gpu_seconds")
    provisional = series(found, "gpuhours_project_consumed_provisional_gpu_seconds")
    remaining = series(found, "gpuhours_project_remaining_gpu_seconds")
    assert set(allocated) == set(rows)  # the projects with an allocation or a consumption
    for key, b in rows.items():
        assert allocated[key] == b["allocated_seconds"] + b["adjustments_seconds"], key
        assert consumed[key] == b["consumed_seconds"] + b["consumed_provisional_seconds"], key
        assert provisional[key] == b["consumed_provisional_seconds"], key
        assert remaining[key] == b["remaining_seconds"], key
    assert {s.labels["period"] for s in found if "period" in s.labels} >= {period}

    # Pools: the capacity and allocations of the pool balance, and every charge of the pool
    # (unmapped accounts included).
    by_project = consumption_by_project(services.engine, period)
    for pool in ("ai2f-jz", "enact-local"):
        pb = client.get(
            f"/api/v1/pools/{pool}/balances",
            params={"period": period},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        key = (pool,)
        assert series(found, "gpuhours_pool_capacity_gpu_seconds")[key] == pb["capacity_seconds"]
        assert series(found, "gpuhours_pool_allocated_gpu_seconds")[key] == pb["allocated_seconds"]
        used = sum(c.final + c.provisional for (_p, pl), c in by_project.items() if pl == pool)
        assert series(found, "gpuhours_pool_consumed_gpu_seconds")[key] == used
    assert by_project[("", "enact-local")].final > 0  # the unmapped account counts for the pool


def by_labels(found: list[Sample], name: str, *keys: str) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels[k] for k in keys): s.value for s in found if s.name == name}


def test_burn_grant_usage_ingestion_and_reconciliation_equal_direct_reads(
    services: Services, client: TestClient
) -> None:
    found = samples(scrape(client, services).text)
    epoch = int(NOW.timestamp())
    period = period_containing(NOW)
    previous = period_containing(period.start - timedelta(days=1)).label

    # Burn rates and exhaustion: accounting.burn through accounting.services.burns.
    remaining = by_labels(found, "gpuhours_project_remaining_gpu_seconds", "project", "pool")
    allocated = by_labels(found, "gpuhours_project_allocated_gpu_seconds", "project", "pool")
    expected = burns(
        services.uow(),
        epoch,
        {k: (int(remaining[k]), int(allocated[k])) for k in remaining},
        services.settings.calendar,
    )
    rates = by_labels(found, "gpuhours_project_burn_rate", "project", "pool", "window")
    exhaustion = by_labels(
        found, "gpuhours_project_projected_exhaustion_timestamp_seconds", "project", "pool"
    )
    assert any(b.rate_7d for b in expected.values())
    for key, b in expected.items():
        assert (rates[(*key, "7d")], rates[(*key, "30d")]) == (b.rate_7d, b.rate_30d), key
        assert exhaustion.get(key) == b.exhaustion, key

    # Usage counters and grants against the daily rollup and the journal.
    D = t.UsageDailyRow
    with services.engine.connect() as conn:
        final = {
            (pool, cluster, gpu_type): int(s)
            for pool, cluster, gpu_type, s in conn.execute(
                select(D.pool_id, D.cluster, D.gpu_type, func.sum(D.gpu_seconds))
                .where(~D.provisional)
                .group_by(D.pool_id, D.cluster, D.gpu_type)
            )
        }
        grant_used = conn.scalar(
            select(func.sum(D.units)).where(
                D.pool_id == "ai2f-jz",
                D.day >= int(datetime(2026, 5, 1, tzinfo=UTC).timestamp()) // 86400,
                D.day < int(datetime(2027, 5, 1, tzinfo=UTC).timestamp()) // 86400,
            )
        )
    counter = by_labels(found, "gpuhours_consumed_gpu_seconds_total", "pool", "cluster", "gpu_type")
    assert counter == final
    assert ("", "other", "a100") in counter  # unrouted usage
    assert by_labels(found, "gpuhours_grant_gpu_seconds", "pool") == {("ai2f-jz",): 400_000 * H}
    assert by_labels(found, "gpuhours_grant_consumed_gpu_seconds", "pool") == {
        ("ai2f-jz",): grant_used
    }
    assert by_labels(found, "gpuhours_grant_start_timestamp_seconds", "pool") == {
        ("ai2f-jz",): datetime(2026, 5, 1, tzinfo=UTC).timestamp()
    }

    # Ingestion, from the store's own view.
    states = {s.cluster: s for s in SqlUsageStore(services.engine).clusters()}
    assert set(states) == {"enact-dev", "jean-zay", "other"}
    success = by_labels(found, "gpuhours_ingest_last_success_timestamp_seconds", "cluster")
    lag = by_labels(found, "gpuhours_ingest_lag_seconds", "cluster")
    failing = by_labels(found, "gpuhours_ingest_failing", "cluster")
    records = by_labels(found, "gpuhours_ingest_records_total", "cluster")
    errors = by_labels(found, "gpuhours_ingest_errors_total", "cluster", "kind")
    quarantined = by_labels(found, "gpuhours_ingest_quarantined_records", "cluster")
    for name, s in states.items():
        assert success[(name,)] == s.last_success
        assert lag[(name,)] == epoch - (s.watermark or 0)
        assert records[(name,)] == s.records_total
    assert failing == {("enact-dev",): 0, ("jean-zay",): 0, ("other",): 1}
    assert errors == {("other", "timeout"): 1}
    assert quarantined == {("enact-dev",): 1, ("jean-zay",): 0, ("other",): 0}

    # Reconciliation of the last closed period.
    rec = reconcile(
        services.uow(),
        ADMIN,
        "ai2f-jz",
        previous,
        now=services.clock(),
        calendar=services.settings.calendar,
    )
    lines = by_labels(found, "gpuhours_reconciliation_lines", "pool", "period", "status")
    assert lines == {
        ("ai2f-jz", previous, status.value): sum(ln.status is status for ln in rec.lines)
        for status in Status
    }
    assert sum(lines.values()) == len(rec.lines) > 0
    assert by_labels(found, "gpuhours_reconciliation_difference_gpu_seconds", "pool", "period") == {
        ("ai2f-jz", previous): sum(ln.difference for ln in rec.lines)
    }
    assert by_labels(found, "gpuhours_period_closed_timestamp_seconds", "period") == {
        (previous,): NOW.timestamp()
    }


def test_the_exposition_equals_prometheus_clients_rendering_of_the_same_registry(
    sqlite_services: Services,
) -> None:
    """The collector renders its text itself; ``generate_latest`` of the registry (what the
    worker serves) says the same."""
    app = create_app(services=sqlite_services)
    metrics = app.state.metrics
    ours = [s for s in samples(metrics.exposition().decode()) if s.name.startswith("gpuhours_")]
    theirs = [
        s
        for s in samples(generate_latest(metrics.registry).decode())
        if s.name.startswith("gpuhours_")
    ]

    def normal(found: list[Sample]) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        return sorted((s.name, tuple(sorted(s.labels.items())), float(s.value)) for s in found)

    assert len(ours) > 100
    assert normal(ours) == normal(theirs)


def test_the_cache_reuses_a_collection_for_a_few_seconds(sqlite_services: Services) -> None:
    sqlite_services.settings.metrics_cache_seconds = 60
    with TestClient(create_app(services=sqlite_services)) as c:
        before = series(
            samples(scrape(c, sqlite_services).text), "gpuhours_pool_consumed_gpu_seconds"
        )
        SqlUsageStore(sqlite_services.engine).store_window(
            "enact-dev",
            Window(int(NOW.timestamp()) - 86400, int(NOW.timestamp())),
            UsageBatch([record("enact-dev", 77, "law-01", int(NOW.timestamp()) - 9 * H, 8)]),
            int(NOW.timestamp()),
            None,
        )
        cached = series(
            samples(scrape(c, sqlite_services).text), "gpuhours_pool_consumed_gpu_seconds"
        )
    assert cached == before
    with TestClient(create_app(services=sqlite_services)) as c:  # a new app, a new cache
        after = series(
            samples(scrape(c, sqlite_services).text), "gpuhours_pool_consumed_gpu_seconds"
        )
    assert after[("enact-local",)] == before[("enact-local",)] + 8 * H


def test_http_latency_is_labelled_by_route_template(sqlite_services: Services) -> None:
    with TestClient(create_app(services=sqlite_services)) as c:
        c.get("/api/v1/projects/proj-thesis-01/balances")  # 401: no token
        c.get("/api/v1/projects/another/balances")
        c.get("/no/such/path/123")
        c.get("/api/v1/openapi.json")
        found = samples(c.get("/metrics").text)
    counts = {
        (s.labels["method"], s.labels["route"], s.labels["code"]): s.value
        for s in found
        if s.name == "gpuhours_http_request_duration_seconds_count"
    }
    assert counts == {
        ("GET", "/api/v1/projects/{project_id}/balances", "401"): 2,
        ("GET", "<unmatched>", "404"): 1,
        ("GET", "/api/v1/openapi.json", "200"): 1,
    }


BUSINESS_LABELS = {"project", "chair", "pool", "account"}


def test_an_anonymous_scrape_gets_only_the_process_and_health_families(
    sqlite_services: Services,
) -> None:
    with TestClient(create_app(services=sqlite_services)) as c:
        c.get("/healthz")
        anonymous = samples(c.get("/metrics").text)
        full = samples(scrape(c, sqlite_services).text)
    assert [s for s in anonymous if BUSINESS_LABELS & set(s.labels)] == []
    names = {s.name for s in anonymous}
    assert "gpuhours_http_request_duration_seconds_count" in names
    assert "gpuhours_scheduler_leader" in names
    assert "process_cpu_seconds_total" in names
    assert not {n for n in names if n.startswith(("gpuhours_project_", "gpuhours_pool_"))}
    assert "gpuhours_project_allocated_gpu_seconds" in {s.name for s in full}
    assert any(BUSINESS_LABELS & set(s.labels) for s in full)


def test_who_may_scrape_the_business_families(sqlite_services: Services) -> None:
    sv = sqlite_services
    with TestClient(create_app(services=sv)) as c:
        for role, username in [(Role.SCRAPER, "prometheus"), (Role.ENGINEER, "eng-1")]:
            token = scrape_token(sv, role, username)
            r = c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, (role, r.text)
            assert "gpuhours_project_allocated_gpu_seconds" in r.text, role
            assert r.headers["cache-control"] == "no-store"
        researcher = scrape_token(sv, Role.RESEARCHER, "res-1")
        r = c.get("/metrics", headers={"Authorization": f"Bearer {researcher}"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
        assert "gpuhours_" not in r.text
        for wrong in ("Bearer gph_not-a-token", "Basic cHJvbTpwcm9t", "Bearer "):
            r = c.get("/metrics", headers={"Authorization": wrong})
            assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthenticated"), wrong
            assert r.headers["www-authenticate"] == "Bearer"


def test_made_up_methods_and_paths_add_no_series(sqlite_services: Services) -> None:
    """Every label of the latency histogram is bounded, whatever clients send."""

    def histogram_series(c: TestClient) -> set[tuple[str, ...]]:
        return {
            tuple(sorted(s.labels.items()))
            for s in samples(c.get("/metrics").text)
            if s.name.startswith("gpuhours_http_request_duration_seconds")
        }

    with TestClient(create_app(services=sqlite_services)) as c:
        c.request("FOO", "/healthz")
        c.request("FOO", "/no/such/path")
        c.get("/no/such/path")
        c.get("/metrics")
        before = histogram_series(c)
        for i in range(300):
            c.request(f"X{i}METHOD", "/healthz")
            c.request(f"Y{i}", f"/no/such/path/{i}")
            c.get(f"/random/{i}/{'a' * (i % 50)}")
        after = histogram_series(c)
        counts = {
            (s.labels["method"], s.labels["route"], s.labels["code"]): s.value
            for s in samples(c.get("/metrics").text)
            if s.name == "gpuhours_http_request_duration_seconds_count"
        }
    assert after == before
    assert counts[("other", "/healthz", "405")] == 301
    assert counts[("other", "<unmatched>", "404")] == 301
    assert counts[("GET", "<unmatched>", "404")] == 301
    assert {m for m, _r, _c in counts} <= {"GET", "other"}


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 2.0, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
        return str(r.read().decode())


def wait_for(predicate: Any, timeout: float, what: str, output: Any = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{output()}")


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(args: list[str], env: dict[str, str], log: Path) -> Process:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GPUHOURS_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env={**base, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    return Process(process, log)


def gpuhours_env(url: str, fake: FakeSlurmrestd, **extra: str) -> dict[str, str]:
    cluster = {
        "name": "alpha",
        "url": fake.url,
        "api_version": "v0.0.38",
        "token_env": "GPUHOURS_TEST_SLURM_TOKEN",
        "interval_seconds": 1,
        "retries": 0,
        "timeout_seconds": 5,
        "initial_lookback_seconds": 600,
        "overlap_seconds": 60,
    }
    return {
        "GPUHOURS_DATABASE_URL": url,
        "GPUHOURS_CLUSTERS": json.dumps([cluster]),
        "GPUHOURS_LEADER_RETRY_SECONDS": "0.5",
        "GPUHOURS_LOG_LEVEL": "warning",
        "GPUHOURS_TEST_SLURM_TOKEN": "metrics-test",
        **extra,
    }


def populated_database(tmp_path: Path, now: datetime) -> tuple[str, str]:
    """The database URL, and a scrape token (role ``scraper``) minted in it."""
    url = f"sqlite:///{tmp_path / 'gpuhours.db'}"
    sv = build(Settings(database_url=url))
    upgrade(sv.engine)
    populate(sv, now)
    token = scrape_token(sv)
    sv.engine.dispose()
    return url, token


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


def query(base: str, expr: str) -> dict[str, Any]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        body = get(url, timeout=10)
    except urllib.error.HTTPError as exc:  # 400/422: the error is in the body
        body = exc.read().decode()
    data: dict[str, Any] = json.loads(body)
    return data


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
