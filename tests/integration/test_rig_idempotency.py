"""Against the real Slurm rig: re-ingesting and re-chunking change nothing, and an ingestion
killed with ``kill -9`` resumes to the same rows.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import Engine

from connectors.db.engine import make_engine
from connectors.db.usage_store import SqlUsageStore
from tests.integration.rig_support import (
    assert_usage_equal,
    by_key,
    done_rows,
    empty,
    fetch_keys,
    ingest,
    runs,
    stored,
    usage_rows,
)
from tests.integration.slurm_rig import (
    Rig,
    RigJobs,
    any_rig_reason,
    usage_of_records,
    usage_of_sacct,
    wait_for,
)

REASON = any_rig_reason()
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


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
    cmd = [*gpuhours_cli(), "ingest", "--cluster", rig.cluster, "-o", "json"]

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
