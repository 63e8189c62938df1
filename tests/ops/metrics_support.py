"""What the ``/metrics`` tests share: the data (the demo organisation, ingested usage, a failure,
a statement, a closed period), scrapes and their samples, and running processes
(``gpuhours serve``/``worker``, Prometheus)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from accounting.errors import UsageSourceError
from accounting.ingestion import Quarantined, UsageBatch, Window
from accounting.services import burn_rates, close_period, import_statement
from accounting.statements import NATIONAL_CSV
from allocator import services as svc
from allocator.model import Role, User
from allocator.periods import period_containing
from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.db.migrate import upgrade
from connectors.db.usage_store import SqlUsageStore
from connectors.demo import seed
from connectors.settings import Settings
from tests.builders import usage_record
from tests.conftest import NOW
from tests.scheduler.conftest import FakeSlurmrestd

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
    _runs_out_soon(sv, now, current.label)
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


def _runs_out_soon(sv: Services, now: datetime, period: str) -> None:
    """Debit proj-rnd-01 (national pool) down to one hour of its unit: at its 7-day burn rate
    (about 2 units a second) it runs out within the hour, before the current period ends
    (``gpuhours_project_projected_exhaustion_timestamp_seconds`` has a series)."""
    calendar = sv.settings.calendar
    [rnd] = [
        r
        for r in burn_rates(sv.uow(), ADMIN, now, period, "ai2f-jz", calendar=calendar)
        if r.balance.project_id == "proj-rnd-01"
    ]
    assert rnd.burn.rate_7d > 1
    debit = -(rnd.balance.remaining - H)
    svc.adjust(
        sv.uow(), ADMIN, now, "ai2f-jz", "proj-rnd-01", period, debit, "runs out", calendar=calendar
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


def by_labels(found: list[Sample], name: str, *keys: str) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels[k] for k in keys): s.value for s in found if s.name == name}


BUSINESS_LABELS = {"project", "chair", "pool", "account"}


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
        # enforced, with a Slurm that cannot be read: the scheduled run records itself (its
        # metrics have data) and writes nothing
        "enforce": "apply",
        "sacctmgr": "/nonexistent/sacctmgr",
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


def query(base: str, expr: str) -> dict[str, Any]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        body = get(url, timeout=10)
    except urllib.error.HTTPError as exc:  # 400/422: the error is in the body
        body = exc.read().decode()
    data: dict[str, Any] = json.loads(body)
    return data
