"""Faults against the real Slurm rig: real where the rig can produce them (slurmrestd stopped, an
expired token, an API version it does not serve), injected into real replies of the rig
otherwise (HTTP 500, garbage, a timeout in a later chunk, a record missing a field). Each fails
visibly, holds the watermark and recovers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from accounting.ingestion import IngestReport
from connectors.db.usage_queries import quarantine
from connectors.db.usage_store import SqlUsageStore
from connectors.ingest import RestUsageSource, token_provider
from connectors.settings import ClusterConfig
from connectors.slurm.client import SlurmRestClient
from tests.integration.rig_support import (
    DATA,
    api,
    assert_usage_equal,
    cluster_status,
    done_rows,
    fetch_keys,
    ingest,
    iso,
    runs,
    slurm_jwt,
    stored,
    usage_rows,
)
from tests.integration.slurm_rig import (
    Rig,
    RigJobs,
    any_rig_reason,
    rig_start,
    stop_daemon,
    usage_of_records,
    usage_of_sacct,
)

REASON = any_rig_reason()
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


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


#: How each Slurm answers an expired token on /slurmdb/.../jobs (recorded in tests/data/slurm).
EXPIRED_TOKEN_SAYS = {
    "22.05": "1007",  # HTTP 200, errors[] 1007 Protocol authentication error
    "24.11": "authentication error",  # HTTP 502, errors[] 7000 "..., authentication error"
}


def test_fault_expired_token(rig: Rig, finished: RigJobs, engine: Engine, tmp_path: Path) -> None:
    """An expired token is an auth failure, not an outage: 22.05 answers it with HTTP 200 and
    errors[] 1007, 24.11 with HTTP 502 and errors[] 7000 (as for slurmdbd down, but saying
    "authentication error")."""
    watermark = baseline(engine, rig, finished)
    before = usage_rows(engine)
    token_file = tmp_path / "rest.token"
    token_file.write_text(slurm_jwt(rig, -60))
    config = rig.config(chunk_seconds=60, jwt_key_file=None, token_file=token_file)
    with api(engine, config) as get:
        report = ingest(engine, config)
        assert EXPIRED_TOKEN_SAYS[rig.name] in report.error
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
        discovered = rig.config(chunk_seconds=60, api_version="")  # the newest it serves
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
            config.api_version or None,
            transport=httpx.MockTransport(self),
            attempts=2,
            sleep=lambda _seconds: None,
        )
        return RestUsageSource(config, client=client)

    def close(self) -> None:
        self.real.close()


def http_500(request: httpx.Request, _real: httpx.Response) -> httpx.Response:
    """A real slurmrestd 5xx body of the version asked: 22.05's 500 errors[] -1 "Unspecified
    error"; 24.11's 502 errors[] 7000 for slurmdbd down (both recorded from the rigs)."""
    if "/v0.0.38/" in request.url.path:
        body, status = (DATA / "error_bad_token_slurm_jobs.json").read_bytes(), 500
    else:
        body, status = (DATA / "slurm-24.11.5_v0.0.42_error_slurmdbd_down.json").read_bytes(), 502
    return httpx.Response(status, content=body, headers={"content-type": "application/json"})


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
            listed = get(f"/api/v1/usage/quarantine?cluster={rig.cluster}")["items"]
            assert broken in {q["job_id"] for q in listed}

            # once the reply is whole again, a backfill over the window stores the record
            again = ingest(engine, config, since=finished.t0 - 60)
            assert again.ok, again.error
            assert_usage_equal(usage_of_records(stored(engine, rig, rows)), usage_of_sacct(rows))
    finally:
        source.client.close()
        proxy.close()
