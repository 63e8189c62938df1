"""gpuhours against a real Slurm 22.05 (the rig of ``deploy/slurm``): what it ingests through
slurmrestd must equal what Slurm's own ``sacct`` says, run by run, per account and per GPU type.

One batch of jobs (``conftest.rig_jobs``) is shared by every test; only that batch is
compared (the rig's accounting holds older jobs, and other people may use it concurrently).
Faults are real where the rig can produce them (slurmrestd stopped, an expired token, an API
version it does not serve), and injected into real replies of the rig otherwise.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from accounting.ingestion import IngestReport, Window
from accounting.usage import UsageRecord
from allocator import services as svc
from allocator.model import Chair, Project, ProjectKind, Role, SlurmAccount, User
from connectors.auth import mint_token
from connectors.bootstrap import build
from connectors.db import tables as t
from connectors.db.engine import make_engine
from connectors.db.usage_queries import account_usage, quarantine
from connectors.db.usage_store import SqlUsageStore
from connectors.http.app import create_app
from connectors.ingest import RestUsageSource, run_ingest, token_provider
from connectors.settings import ClusterConfig, Settings
from connectors.slurm.client import SlurmRestClient
from tests.integration.slurm_rig import (
    Rig,
    RigJobs,
    SacctRow,
    Usage,
    ours,
    rig_start,
    sacct,
    skip_reason,
    squeue_states,
    stop_daemon,
    usage_of_records,
    usage_of_sacct,
    wait_for,
)

REASON = skip_reason()
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm"


# --- helpers ---------------------------------------------------------------------------------


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def ingest(
    engine: Engine,
    config: ClusterConfig,
    *,
    since: int | None = None,
    until: int | None = None,
    source: RestUsageSource | None = None,
) -> IngestReport:
    """``run_ingest`` now, through slurmrestd (or ``source``), into ``engine``."""
    own = source is None
    source = source or RestUsageSource(config)
    try:
        return run_ingest(
            SqlUsageStore(engine),
            config,
            datetime.now(UTC),
            since=None if since is None else at(since),
            until=None if until is None else at(until),
            source=source,
        )
    finally:
        if own:
            source.client.close()


def done_rows(rig: Rig, jobs: RigJobs) -> list[SacctRow]:
    """sacct's records of the batch that are final now (the long job only once it ended)."""
    return [r for r in jobs.rows(rig) if r.terminal]


def stored(engine: Engine, rig: Rig, rows: list[SacctRow]) -> list[UsageRecord]:
    return ours(SqlUsageStore(engine).records(rig.cluster), rows, rig.cluster)


def by_key(records: list[UsageRecord]) -> dict[tuple[int, int], UsageRecord]:
    return {(r.job_id, r.submit): r for r in records}


def assert_usage_equal(actual: Usage, expected: Usage) -> None:
    assert actual.per_run == expected.per_run
    assert actual.per_account == expected.per_account
    assert actual.per_type == expected.per_type


def usage_rows(engine: Engine) -> dict[tuple[str, int, int], tuple[Any, ...]]:
    """Every stored usage row verbatim (``ingested_at`` included: a rewrite would show)."""
    U = t.Base.metadata.tables["usage_records"]
    with engine.connect() as conn:
        return {(r.cluster, r.job_id, r.submit): tuple(r) for r in conn.execute(select(U))}


def runs(engine: Engine, cluster: str) -> list[Any]:
    R = t.IngestRunRow
    with engine.connect() as conn:
        return list(conn.execute(select(R.__table__).where(R.cluster == cluster).order_by(R.id)))


def empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(t.Base.metadata.sorted_tables):
            conn.execute(table.delete())


def fetch_keys(config: ClusterConfig, start: int, end: int) -> set[tuple[str, int, int]]:
    """The record keys one request for ``[start, end)`` returns (Slurm's window semantics)."""
    source = RestUsageSource(config)
    try:
        batch = source.fetch(Window(start, end))
    finally:
        source.client.close()
    return {(r.cluster, r.job_id, r.submit) for r in batch.records if r.cluster == config.name}


def slurm_jwt(rig: Rig, lifetime: int) -> str:
    """A token as ``scontrol token`` makes it (HS256, ``sun``), expiring ``lifetime`` s from now
    (negative: already expired)."""
    now = int(time.time())
    claims = {"iat": now - 3600, "exp": now + lifetime, "sun": rig.user}
    return jwt.encode(claims, rig.jwt_key_file.read_bytes(), algorithm="HS256")


@contextmanager
def api(engine: Engine, config: ClusterConfig) -> Iterator[Callable[[str], Any]]:
    """The HTTP API over ``engine`` with an admin token: ``get(path) -> JSON``."""
    sv = build(
        Settings(database_url=engine.url.render_as_string(hide_password=False), clusters=[config]),
        engine=engine,
    )
    stamp = datetime.now(UTC)
    svc.create_user(sv.uow(), User("it-setup", Role.ADMIN), stamp, User("it-admin", Role.ADMIN))
    token = mint_token(sv.session_factory, "it-admin", stamp, note="integration test")
    with TestClient(create_app(services=sv)) as client:

        def get(path: str) -> Any:
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            return response.json()

        yield get


def cluster_status(get: Callable[[str], Any], cluster: str) -> dict[str, Any]:
    [entry] = [c for c in get("/api/v1/clusters") if c["cluster"] == cluster]
    assert entry["configured"] is True and entry["source"] == "rest"
    return entry


def iso(epoch: int) -> str:
    return at(epoch).isoformat().replace("+00:00", "Z")


# --- 1. equality with sacct --------------------------------------------------------------------


def test_running_job_is_provisional_then_final(
    rig: Rig, rig_jobs: RigJobs, engines: dict[str, Engine]
) -> None:
    """Ingested twice while it runs (provisional, growing), then once it ended (final, exact).

    Both backends are stepped in lockstep: there is one long job, and both must see it run.
    """
    long_id = rig_jobs.ids["long"]
    config = rig.config()
    since = rig_jobs.t0 - 60
    assert squeue_states(rig, long_id) == ["RUNNING"], (
        f"job {long_id} (sleep 45) already ended: the rig was too slow for this test"
    )
    seen: dict[str, list[UsageRecord]] = {name: [] for name in engines}

    def long_records(engine: Engine) -> list[UsageRecord]:
        records = SqlUsageStore(engine).records(rig.cluster)
        return [r for r in records if r.job_id == long_id and r.submit >= rig_jobs.t0]

    for round_ in range(2):
        if round_:
            time.sleep(3)
        for name, engine in engines.items():
            report = ingest(engine, config, since=since)
            assert report.ok, report.error
            [record] = long_records(engine)
            seen[name].append(record)
            if round_:
                assert report.updated >= 1  # the running record was rewritten in place
    assert squeue_states(rig, long_id) == ["RUNNING"]

    for name, (first, second) in seen.items():
        for record in (first, second):
            assert not record.final, name
            assert record.state == "RUNNING" and record.end is None, (name, record)
            assert record.gpus == 1 and record.gpus_by_type == (("h100", 1),)
            assert record.gpu_seconds > 0
        assert second.gpu_seconds > first.gpu_seconds, name
        assert (second.job_id, second.submit) == (first.job_id, first.submit)
        [usage] = [u for u in account_usage(engines[name], rig.cluster) if u.account == "chair-nlp"]
        assert usage.provisional_gpu_seconds >= second.gpu_seconds

    def long_done() -> list[SacctRow] | None:
        rows = [r for r in sacct(rig, [long_id]) if r.submit >= rig_jobs.t0]
        return rows if rows and all(r.terminal for r in rows) else None

    [final_row] = wait_for(f"job {long_id} to end", long_done, timeout=120, interval=1.0)
    for name, engine in engines.items():
        report = ingest(engine, config, since=since)
        assert report.ok, report.error
        [record] = long_records(engine)
        assert record.final and record.state == "COMPLETED" and record.end is not None, name
        assert record.elapsed == final_row.elapsed
        assert record.gpu_seconds == final_row.gpus * final_row.elapsed == final_row.gpu_seconds
        assert (
            record.gpu_seconds_by_type()
            == final_row.gpu_seconds_by_type()
            == {"h100": final_row.elapsed}
        )
        assert final_row.elapsed >= 40  # sleep 45


def test_ingested_usage_equals_sacct(rig: Rig, finished: RigJobs, engine: Engine) -> None:
    """GPU-seconds through slurmrestd = sacct's ``gres/gpu`` x ElapsedRaw, exactly."""
    rows = done_rows(rig, finished)
    report = ingest(engine, rig.config(chunk_seconds=600), since=finished.t0 - 60)
    assert report.ok, report.error
    records = stored(engine, rig, rows)
    expected, actual = usage_of_sacct(rows), usage_of_records(records)

    print(f"\njobs {finished.ids}")
    for account in sorted(expected.per_account):
        print(
            f"  {account:15} sacct {expected.per_account[account]:5} "
            f"gpuhours {actual.per_account.get(account)}"
        )
    for key in sorted(expected.per_type):
        print(f"  {key!s:28} sacct {expected.per_type[key]:5} gpuhours {actual.per_type.get(key)}")

    assert_usage_equal(actual, expected)
    assert all(r.final for r in records)
    assert set(expected.per_account) >= {"chair-nlp", "chair-health", "proj-thesis-01"}
    assert "proj-rnd-01" in expected.per_account  # the cancelled job

    role = {(r.job_id, r.submit): finished.role(r) for r in rows}
    mine: dict[str, list[UsageRecord]] = {}
    for record in records:
        mine.setdefault(role[(record.job_id, record.submit)], []).append(record)

    [typed] = mine["typed"]
    assert typed.gpus == 2 and typed.gpus_by_type == (("a100", 2),) and typed.gpu_seconds > 0
    [untyped] = mine["untyped"]  # --gpus=1: allocated carries the type anyway
    assert untyped.gpus == 1 and untyped.gpus_by_type == (("h100", 1),)
    [failed] = mine["failed"]
    assert failed.state == "FAILED" and failed.gpu_seconds > 0
    [cancelled] = mine["cancelled"]
    assert cancelled.state == "CANCELLED" and cancelled.elapsed >= 2
    [cpu_only] = mine["cpu_only"]
    assert cpu_only.gpus == 0 and cpu_only.gpu_seconds == 0 and cpu_only.elapsed > 0
    [never] = mine["never_started"]  # cancelled while pending (Resources)
    assert never.state == "CANCELLED" and never.gpus == 0 and never.gpu_seconds == 0
    assert never.elapsed == 0 and never.alloc_nodes == 0
    # 22.05 stores either no start or start = end = the cancel time (sacct shows the same)
    assert never.start in (None, never.end)
    requeued = mine["requeued"]
    assert len(requeued) == 2 and len({r.job_id for r in requeued}) == 1
    assert sorted(r.state for r in requeued) == ["COMPLETED", "REQUEUED"]
    assert all(r.gpu_seconds > 0 for r in requeued)  # both runs are charged
    array = mine["array"]
    assert len(array) == 3 and len({r.job_id for r in array}) == 3
    assert {r.array_job_id for r in array} == {finished.ids["array"]}
    assert sorted(r.array_task_id for r in array) == [0, 1, 2]  # type: ignore[type-var]


# --- 3. idempotency, chunking, kill -9 ----------------------------------------------------------


def test_reingesting_and_rechunking_change_nothing(
    rig: Rig, finished: RigJobs, engine: Engine
) -> None:
    rows = done_rows(rig, finished)
    expected = usage_of_sacct(rows)
    since, until = finished.t0 - 60, int(time.time())
    config = rig.config(chunk_seconds=600)

    first = ingest(engine, config, since=since, until=until)
    assert first.ok, first.error
    before = usage_rows(engine)
    provisional = sum(1 for r in SqlUsageStore(engine).records() if not r.final)
    time.sleep(1.1)  # a rewrite would now carry another ingested_at
    second = ingest(engine, config, since=since, until=until)
    assert second.ok, second.error
    assert second.inserted == 0
    assert second.updated <= provisional  # only other people's running jobs may change
    after = usage_rows(engine)
    keys = {(rig.cluster, r.job_id, r.submit) for r in rows}
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}
    assert_usage_equal(usage_of_records(stored(engine, rig, rows)), expected)

    results = {}
    for chunk in (60, 600, until - since):
        empty(engine)
        report = ingest(engine, rig.config(chunk_seconds=chunk), since=since, until=until)
        assert report.ok, report.error
        assert report.windows == math.ceil((until - since) / chunk)
        results[chunk] = by_key(stored(engine, rig, rows))
        assert_usage_equal(usage_of_records(results[chunk].values()), expected)
    reference = results[until - since]
    assert all(found == reference for found in results.values())


def gpuhours_cli() -> list[str]:
    script = Path(sys.executable).parent / "gpuhours"
    return [str(script)] if script.exists() else [sys.executable, "-m", "connectors.cli"]


def test_kill_9_mid_ingest_then_resume(
    rig: Rig,
    finished: RigJobs,
    engine: Engine,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """SIGKILL ``gpuhours ingest`` between/inside its 60-s chunks; the rerun completes it."""
    rows = done_rows(rig, finished)
    config = rig.config(chunk_seconds=60, overlap_seconds=60)
    since = finished.t0 - 3600  # ~60 chunks of 60 s: about 7 s of work
    env = rig.env(
        GPUHOURS_DATABASE_URL=engine.url.render_as_string(hide_password=False),
        GPUHOURS_CLUSTERS=json.dumps([config.model_dump(mode="json")]),
        GPUHOURS_DATA_DIR=str(tmp_path / "data"),
    )
    for name in ("GPUHOURS_CLUSTERS_FILE", "GPUHOURS_DEMO", "GPUHOURS_DEMO_ADMIN_TOKEN"):
        env.pop(name, None)
    cmd = [*gpuhours_cli(), "ingest", "--cluster", rig.cluster]

    proc = subprocess.Popen(
        [*cmd, "--since", str(since)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:

        def some_stored() -> bool | None:
            if proc.poll() is not None:
                raise RuntimeError(f"gpuhours ingest ended (exit {proc.returncode}) before kill")
            done = [r for r in runs(engine, rig.cluster) if r.status == "stored"]
            return True if len(done) >= 5 else None

        wait_for("gpuhours ingest to store 5 chunks", some_stored, timeout=90, interval=0.05)
        os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err

    # what the killed run left: whole chunks only, the watermark at the last one
    store = SqlUsageStore(engine)
    state = store.state(rig.cluster)
    killed = runs(engine, rig.cluster)
    assert killed and all(r.status == "stored" and r.error == "" for r in killed)
    assert killed[0].window_start == since
    assert all(b.window_start == a.window_end for a, b in pairwise(killed))
    assert all(0 < r.window_end - r.window_start <= 60 for r in killed)
    assert state.watermark == killed[-1].window_end
    assert state.watermark < finished.t0 - 60, "killed too late: nothing of the batch left to do"
    assert state.last_error == ""
    db_keys = {(r.cluster, r.job_id, r.submit) for r in store.records(rig.cluster)}
    assert db_keys == fetch_keys(config, since, state.watermark)  # nothing of a later window

    # the rerun resumes from the watermark (minus the overlap) and completes
    done = subprocess.run(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["error"] == "" and out["cluster"] == rig.cluster
    resumed = runs(engine, rig.cluster)[len(killed) :]
    assert resumed and all(r.status == "stored" and r.error == "" for r in resumed)
    assert resumed[0].window_start == state.watermark - config.overlap_seconds
    assert all(b.window_start == a.window_end for a, b in pairwise(resumed))
    final_state = store.state(rig.cluster)
    assert final_state.watermark == resumed[-1].window_end == out["watermark"]
    after_resume = by_key(stored(engine, rig, rows))

    # a clean single run (one chunk) over the same span, into a fresh database
    clean_path = tmp_path / "clean.db"
    clean_path.write_bytes(Path(request.getfixturevalue("_sqlite_template")).read_bytes())
    clean = make_engine(f"sqlite:///{clean_path}")
    try:
        span = out["watermark"] - since
        report = ingest(clean, rig.config(chunk_seconds=span), since=since, until=out["watermark"])
        assert report.ok and report.windows == 1
        single = by_key(stored(clean, rig, rows))
    finally:
        clean.dispose()
    assert after_resume == single
    assert_usage_equal(usage_of_records(after_resume.values()), usage_of_sacct(rows))


# --- 4. faults ---------------------------------------------------------------------------------


def baseline(engine: Engine, rig: Rig, jobs: RigJobs) -> int:
    """A first successful ingest that ends before the batch: the watermark to hold."""
    report = ingest(engine, rig.config(chunk_seconds=60), since=jobs.t0 - 180, until=jobs.t0 - 60)
    assert report.ok, report.error
    assert report.watermark == jobs.t0 - 60
    return report.watermark


def assert_failed_visibly(
    engine: Engine,
    rig: Rig,
    get: Callable[[str], Any],
    report: IngestReport,
    kind: str,
    watermark: int,
    failed_window: int,
) -> None:
    """The failure held the watermark and shows in the store's state and in the API."""
    assert not report.ok
    assert report.watermark == watermark
    state = SqlUsageStore(engine).state(rig.cluster)
    assert state.watermark == watermark
    assert state.last_error_kind == kind, state
    assert state.last_error == report.error
    assert state.errors_total == {kind: 1}
    last = runs(engine, rig.cluster)[-1]
    assert last.status == "failed" and last.error == report.error
    assert last.window_start == failed_window
    entry = cluster_status(get, rig.cluster)
    assert entry["last_error_kind"] == kind
    assert entry["last_error"] == report.error
    assert entry["errors_total"] == {kind: 1}
    assert entry["watermark"] == iso(watermark)


def assert_recovers(
    engine: Engine,
    rig: Rig,
    jobs: RigJobs,
    get: Callable[[str], Any],
    kind: str,
    watermark: int,
    config: ClusterConfig | None = None,
) -> None:
    """The next (incremental) run succeeds, clears the error and stores the whole batch."""
    rows = done_rows(rig, jobs)
    report = ingest(engine, config or rig.config(chunk_seconds=60))
    assert report.ok, report.error
    assert report.watermark is not None and report.watermark > watermark
    state = SqlUsageStore(engine).state(rig.cluster)
    assert (state.last_error, state.last_error_kind) == ("", "")
    assert state.watermark == report.watermark
    assert state.errors_total == {kind: 1}  # the history stays
    assert_usage_equal(usage_of_records(stored(engine, rig, rows)), usage_of_sacct(rows))
    entry = cluster_status(get, rig.cluster)
    assert (entry["last_error"], entry["last_error_kind"]) == ("", "")
    assert entry["watermark"] == iso(report.watermark)
    assert entry["errors_total"] == {kind: 1}


def test_fault_slurmrestd_stopped(rig: Rig, finished: RigJobs, engine: Engine) -> None:
    watermark = baseline(engine, rig, finished)
    before = usage_rows(engine)
    config = rig.config(chunk_seconds=60, retries=1)
    with api(engine, config) as get:
        try:
            stop_daemon(rig, "slurmrestd")
            report = ingest(engine, config)
        finally:
            rig_start(rig)
        assert "cannot reach slurmrestd" in report.error
        assert_failed_visibly(engine, rig, get, report, "unavailable", watermark, watermark - 60)
        assert usage_rows(engine) == before  # nothing written
        assert_recovers(engine, rig, finished, get, "unavailable", watermark)


def test_fault_expired_token(rig: Rig, finished: RigJobs, engine: Engine, tmp_path: Path) -> None:
    """22.05 answers an expired token with HTTP 200 and errors[] 1007."""
    watermark = baseline(engine, rig, finished)
    before = usage_rows(engine)
    token_file = tmp_path / "rest.token"
    token_file.write_text(slurm_jwt(rig, -60))
    config = rig.config(chunk_seconds=60, jwt_key_file=None, token_file=token_file)
    with api(engine, config) as get:
        report = ingest(engine, config)
        assert "1007" in report.error
        assert_failed_visibly(engine, rig, get, report, "auth", watermark, watermark - 60)
        assert usage_rows(engine) == before
        token_file.write_text(slurm_jwt(rig, 600))  # a fresh token: the next run works
        assert_recovers(engine, rig, finished, get, "auth", watermark, config)


def test_fault_wrong_api_version(rig: Rig, finished: RigJobs, engine: Engine) -> None:
    """An API version this slurmrestd does not load answers 404: rejected, not retried."""
    watermark = baseline(engine, rig, finished)
    before = usage_rows(engine)
    config = rig.config(chunk_seconds=60, api_version="v0.0.39")
    with api(engine, config) as get:
        report = ingest(engine, config)
        assert "404" in report.error
        assert_failed_visibly(engine, rig, get, report, "rejected", watermark, watermark - 60)
        assert usage_rows(engine) == before
        discovered = rig.config(chunk_seconds=60, api_version="")  # discovered: v0.0.38
        assert_recovers(engine, rig, finished, get, "rejected", watermark, discovered)


class Proxy:
    """A MockTransport handler relaying to the rig's slurmrestd: real replies, with a fault
    injected into every jobs request whose window starts at or after ``fault_from``."""

    def __init__(
        self,
        rig: Rig,
        fault_from: int,
        fault: Callable[[httpx.Request, httpx.Response], httpx.Response],
    ) -> None:
        self.real = httpx.Client(timeout=30)
        self.fault_from = fault_from
        self.fault = fault
        self.relayed: list[str] = []
        self.faulted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        real = self.real.send(
            self.real.build_request(request.method, request.url, headers=request.headers)
        )
        response = httpx.Response(
            real.status_code,
            content=real.content,
            headers={"content-type": real.headers.get("content-type", "application/json")},
        )
        start = request.url.params.get("start_time", "")
        if start.startswith("uts") and int(start[3:]) >= self.fault_from:
            self.faulted.append(start)
            return self.fault(request, response)
        self.relayed.append(start)
        return response

    def source(self, config: ClusterConfig) -> RestUsageSource:
        client = SlurmRestClient(
            config.url,
            config.user,
            token_provider(config),
            "v0.0.38",
            transport=httpx.MockTransport(self),
            attempts=2,
            sleep=lambda _seconds: None,
        )
        return RestUsageSource(config, client=client)

    def close(self) -> None:
        self.real.close()


def http_500(_request: httpx.Request, _real: httpx.Response) -> httpx.Response:
    """A real slurmrestd 500 body (recorded from the rig: errors[] -1 "Unspecified error")."""
    body = (DATA / "error_bad_token_slurm_jobs.json").read_bytes()
    return httpx.Response(500, content=body, headers={"content-type": "application/json"})


def garbage(_request: httpx.Request, real: httpx.Response) -> httpx.Response:
    """The real reply cut in the middle: not JSON any more."""
    return httpx.Response(200, content=real.content[: len(real.content) // 2])


def timeout(request: httpx.Request, _real: httpx.Response) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    ("fault", "kind", "attempts"),
    [(http_500, "http", 2), (garbage, "payload", 1), (timeout, "timeout", 2)],
    ids=["http-500", "garbage-json", "timeout"],
)
def test_fault_in_a_later_chunk_stores_the_earlier_ones_only(
    rig: Rig,
    finished: RigJobs,
    engine: Engine,
    fault: Callable[[httpx.Request, httpx.Response], httpx.Response],
    kind: str,
    attempts: int,
) -> None:
    """Chunks [t0-120, t0-60) and [t0-60, t0) pass, [t0, t0+60) - the batch's - fails."""
    assert baseline(engine, rig, finished) == finished.t0 - 60
    t0 = finished.t0
    config = rig.config(chunk_seconds=60)
    proxy = Proxy(rig, t0, fault)
    source = proxy.source(config)
    try:
        with api(engine, config) as get:
            report = ingest(engine, config, source=source)
            assert proxy.relayed == [f"uts{t0 - 120}", f"uts{t0 - 60}"]
            assert proxy.faulted == [f"uts{t0}"] * attempts  # transient ones are retried
            assert_failed_visibly(engine, rig, get, report, kind, t0, t0)
            new = runs(engine, rig.cluster)[-3:]
            assert [(r.status, r.window_start) for r in new] == [
                ("stored", t0 - 120),
                ("stored", t0 - 60),
                ("failed", t0),
            ]
            # no partial write: exactly the records of the stored windows, none of the batch
            keys = {(r.cluster, r.job_id, r.submit) for r in SqlUsageStore(engine).records()}
            assert keys == fetch_keys(config, t0 - 180, t0)
            assert stored(engine, rig, done_rows(rig, finished)) == []
            assert_recovers(engine, rig, finished, get, kind, t0)
    finally:
        source.client.close()
        proxy.close()


def test_record_with_a_missing_field_is_quarantined_the_rest_stored(
    rig: Rig, finished: RigJobs, engine: Engine
) -> None:
    """A real reply with ``time`` removed from one record: that record is quarantined with the
    reason, the others are stored, the watermark moves on; a backfill stores it once fixed."""
    rows = done_rows(rig, finished)
    broken = finished.ids["failed"]
    config = rig.config(chunk_seconds=60)

    def drop_time(_request: httpx.Request, real: httpx.Response) -> httpx.Response:
        reply = json.loads(real.content)
        for job in reply["jobs"]:
            if job["job_id"] == broken and job["time"]["submission"] >= finished.t0:
                del job["time"]
        return httpx.Response(200, json=reply)

    proxy = Proxy(rig, finished.t0 - 60, drop_time)
    source = proxy.source(config)
    try:
        with api(engine, config) as get:
            report = ingest(engine, config, since=finished.t0 - 60, source=source)
            assert report.ok, report.error
            assert report.quarantined >= 1
            [item] = [q for q in quarantine(engine, rig.cluster) if q.job_id == broken]
            assert "time" in item.reason
            assert f'"job_id":{broken}' in item.raw.replace(" ", "")
            records = stored(engine, rig, rows)
            assert broken not in {r.job_id for r in records}
            rest = [r for r in rows if r.job_id != broken]
            assert_usage_equal(usage_of_records(records), usage_of_sacct(rest))
            state = SqlUsageStore(engine).state(rig.cluster)
            assert state.watermark == report.watermark and state.last_error == ""
            assert state.quarantined_total >= 1
            entry = cluster_status(get, rig.cluster)
            assert entry["quarantined"] >= 1 and entry["last_error"] == ""
            listed = get(f"/api/v1/usage/quarantine?cluster={rig.cluster}")
            assert broken in {q["job_id"] for q in listed}

            # once the reply is whole again, a backfill over the window stores the record
            again = ingest(engine, config, since=finished.t0 - 60)
            assert again.ok, again.error
            assert_usage_equal(usage_of_records(stored(engine, rig, rows)), usage_of_sacct(rows))
    finally:
        source.client.close()
        proxy.close()


# --- 5. attribution ------------------------------------------------------------------------------


def test_mapping_added_later_attributes_past_jobs(
    rig: Rig, finished: RigJobs, engine: Engine
) -> None:
    rows = done_rows(rig, finished)
    report = ingest(engine, rig.config(), since=finished.t0 - 60)
    assert report.ok, report.error
    account = "proj-thesis-01"
    before = {u.account: u for u in account_usage(engine, rig.cluster)}
    assert before[account].project_id is None
    assert account in {u.account for u in account_usage(engine, rig.cluster, unmapped_only=True)}

    sv = build(Settings(database_url=engine.url.render_as_string(hide_password=False)), engine)
    now, admin = datetime.now(UTC), User("it-admin", Role.ADMIN)
    svc.create_user(sv.uow(), admin, now, User("alice", Role.RESEARCHER))
    svc.create_chair(sv.uow(), admin, now, Chair("nlp", "NLP chair"))
    svc.create_project(
        sv.uow(), admin, now, Project("thesis-01", "nlp", "Thesis 01", ProjectKind.THESIS, "alice")
    )
    svc.map_slurm_account(sv.uow(), admin, now, "thesis-01", SlurmAccount(rig.cluster, account))

    after = {u.account: u for u in account_usage(engine, rig.cluster)}
    assert after[account].project_id == "thesis-01"
    assert (after[account].gpu_seconds, after[account].jobs, after[account].by_type) == (
        before[account].gpu_seconds,
        before[account].jobs,
        before[account].by_type,
    )
    assert account not in {
        u.account for u in account_usage(engine, rig.cluster, unmapped_only=True)
    }
    assert all(after[a].project_id is None for a in after if a != account)
    # the read model adds up the stored records (ours and anyone else's in the window)
    all_final = [
        r for r in SqlUsageStore(engine).records(rig.cluster) if r.account == account and r.final
    ]
    assert after[account].gpu_seconds == sum(r.gpu_seconds for r in all_final)
    assert after[account].gpu_seconds >= usage_of_sacct(rows).per_account[account] > 0
