"""Fixtures for the tests against the real Slurm rigs (``deploy/slurm``: 22.05 and 24.11).

Every rig test runs once per (rig, slurmdb API version): 22.05 with v0.0.38, 24.11 with
v0.0.40, v0.0.41 and v0.0.42. ``rig_jobs`` submits ONE batch of jobs per rig, the first time a
test of that rig needs it, so that every wait overlaps and all API versions read the same jobs;
``finished`` waits (bounded) until all of them but the long-running one have ended.
Without a rig's environment (``eval "$(bash deploy/slurm/rig.sh env)"``, ``rig2411.sh env``)
its tests are skipped with the reason.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Engine

from connectors.db.engine import make_engine
from tests.conftest import PG_URL, _truncate_pg
from tests.integration.slurm_rig import (
    TARGETS,
    Rig,
    RigJobs,
    finished_jobs,
    run,
    run_seconds,
    sbatch,
    skip_reason,
    squeue_states,
    wait_for,
    wait_state,
)

#: Bounds of the waits below (seconds). The whole batch normally ends ~15 s after submission.
RUN_TIMEOUT = 90
FINISH_TIMEOUT = 240


@pytest.fixture(scope="session", params=TARGETS, ids=["-".join(t) for t in TARGETS])
def rig(request: pytest.FixtureRequest) -> Rig:
    """Each rig once per slurmdb API version it serves (22.05: v0.0.38; 24.11: v0.0.40-42)."""
    name, version = request.param
    reason = skip_reason(name)
    if reason is not None:
        pytest.skip(reason)
    found = Rig.from_env(name, version)
    status = run(found, "bash", str(found.kind.script), "status", check=False, timeout=60)
    if status.returncode != 0:
        pytest.fail(
            f"{found.kind.prefix}=1 but the {name} rig is not up ({found.kind.howto}):\n"
            f"{status.stdout}{status.stderr}"
        )
    return found


@pytest.fixture(scope="session")
def _batches() -> Iterator[dict[str, tuple[Rig, RigJobs] | BaseException]]:
    """One batch of jobs per rig, shared by every API version of that rig."""
    made: dict[str, tuple[Rig, RigJobs] | BaseException] = {}
    yield made
    for entry in made.values():
        if isinstance(entry, tuple):
            cancel_left(*entry)


@pytest.fixture
def rig_jobs(rig: Rig, _batches: dict[str, tuple[Rig, RigJobs] | BaseException]) -> RigJobs:
    """The rig's batch, submitted by the first test that needs it."""
    if rig.name not in _batches:
        jobs = RigJobs(t0=int(time.time()) - 1)
        try:
            submit_batch(rig, jobs)
        except BaseException as exc:
            cancel_left(rig, jobs)
            _batches[rig.name] = exc
            raise
        _batches[rig.name] = (rig, jobs)
    entry = _batches[rig.name]
    if isinstance(entry, BaseException):
        raise AssertionError(f"the {rig.name} batch could not be submitted: {entry}")
    return entry[1]


def submit_batch(rig: Rig, jobs: RigJobs) -> None:
    """Submit the batch, then requeue one job and cancel two (one running, one never started)."""
    ids = jobs.ids
    submit = partial(sbatch, rig)
    gpu_a100, gpu_h100 = ("-p", "gpu-a100"), ("-p", "gpu-h100")
    ids["typed"] = submit(
        "alice", "-A", "chair-nlp", *gpu_a100, "--gres=gpu:a100:2", "--wrap", "sleep 4"
    )
    ids["untyped"] = submit(
        "alice", "-A", "proj-thesis-01", *gpu_h100, "--gpus=1", "--wrap", "sleep 3"
    )
    ids["failed"] = submit(
        "bob", "-A", "chair-health", *gpu_h100, "--gres=gpu:h100:1", "--wrap", "sleep 2; exit 3"
    )
    ids["cancelled"] = submit(
        "bob", "-A", "proj-rnd-01", *gpu_a100, "--gres=gpu:a100:1", "--wrap", "sleep 60"
    )
    ids["array"] = submit(
        "carol", "-A", "chair-nlp", *gpu_a100, "--gres=gpu:a100:1", "--array=0-2",
        "--wrap", "sleep 2",
    )  # fmt: skip
    ids["requeued"] = submit(
        "bob", "-A", "chair-health", *gpu_h100, "--gres=gpu:h100:1", "--requeue",
        "--wrap", "sleep 8",
    )  # fmt: skip
    ids["cpu_only"] = submit("carol", "-A", "chair-health", *gpu_a100, "--wrap", "sleep 2")
    if rig.kind.two_node_partition:
        both = ("-p", rig.kind.two_node_partition)
        ids["two_node"] = submit(
            "carol", "-A", "proj-rnd-01", *both, "-N2", "--gres=gpu:1", "--wrap", "sleep 3"
        )
        ids["het"] = submit(
            "alice", "-A", "chair-nlp", *gpu_a100, "--gres=gpu:a100:1", ":",
            *gpu_h100, "--gres=gpu:h100:2", "--wrap", "sleep 3",
        )  # fmt: skip
    ids["long"] = submit(
        "alice", "-A", "chair-nlp", *gpu_h100, "--gres=gpu:h100:1", "--wrap", "sleep 45"
    )
    jobs.notes.append(f"submitted {ids} in {time.time() - jobs.t0:.1f} s")

    # requeue while running (recipe of deploy/slurm/README.md), then lift the BeginTime delay
    requeued = ids["requeued"]
    wait_state(rig, requeued, ["RUNNING"], RUN_TIMEOUT)
    # the first run must have a non-zero ElapsedRaw: slurmctld says RUNNING before a loaded
    # host has launched it (one CI run recorded a zero-length first run after 2 s)
    time.sleep(4)
    run(rig, "scontrol", "requeue", str(requeued))
    requeued_at = time.time()
    wait_state(rig, requeued, ["PENDING"], 60)
    # slurmd revokes the job's credential at the requeue, with a resolution of one second:
    # a run launched within that second dies "Job credential revoked" (FAILED). So the
    # BeginTime delay is lifted only once that second is well over.
    time.sleep(max(0.0, math.floor(requeued_at) + 2.5 - time.time()))

    def lifted() -> bool | None:
        done = run(rig, "scontrol", "update", f"JobId={requeued}", "StartTime=now", check=False)
        return True if done.returncode == 0 else None

    wait_for(f"scontrol update JobId={requeued} StartTime=now", lifted, 30, interval=0.5)
    wait_state(rig, requeued, ["RUNNING", "COMPLETING", "COMPLETED"], RUN_TIMEOUT)
    jobs.notes.append(f"requeued {requeued} at +{time.time() - jobs.t0:.1f} s")

    # cancel a running job once it has run >= 2 s
    cancelled = ids["cancelled"]
    wait_state(rig, cancelled, ["RUNNING"], RUN_TIMEOUT)
    time.sleep(max(0, 3 - run_seconds(rig, cancelled)))  # %M is whole seconds
    run(rig, "scancel", str(cancelled), user="bob")
    jobs.notes.append(f"cancelled {cancelled} at +{time.time() - jobs.t0:.1f} s")

    # a job that never starts: 4 h100 while the long job holds one; eligible, then cancelled
    wait_state(rig, ids["long"], ["RUNNING"], RUN_TIMEOUT)
    ids["never_started"] = submit(
        "bob", "-A", "chair-health", *gpu_h100, "--gres=gpu:h100:4", "--wrap", "sleep 1"
    )
    wait_state(rig, ids["never_started"], ["PENDING"], 30)
    time.sleep(1.5)
    run(rig, "scancel", str(ids["never_started"]), user="bob")
    jobs.notes.append(f"never-started {ids['never_started']} at +{time.time() - jobs.t0:.1f} s")


def cancel_left(rig: Rig, jobs: RigJobs) -> None:
    left = [
        str(job_id)
        for job_id in jobs.ids.values()
        if set(squeue_states(rig, job_id)) & {"PENDING", "RUNNING", "SUSPENDED"}
    ]
    if left:
        run(rig, "scancel", *left, check=False)


@pytest.fixture
def running_job(rig: Rig, rig_jobs: RigJobs) -> tuple[int, int]:
    """(job id, seconds it sleeps) of a running alice/chair-nlp h100:1 job: the batch's long
    job while it still runs (the first API version of a rig), else a fresh one."""
    long_id = rig_jobs.ids["long"]
    if squeue_states(rig, long_id) == ["RUNNING"]:
        return long_id, 45
    fresh = sbatch(
        rig, "alice", "-A", "chair-nlp", "-p", "gpu-h100", "--gres=gpu:h100:1",
        "--wrap", "sleep 20",
    )  # fmt: skip
    rig_jobs.ids[f"long_{rig.api_version}"] = fresh
    wait_state(rig, fresh, ["RUNNING"], RUN_TIMEOUT)
    time.sleep(max(0, 3 - run_seconds(rig, fresh)))  # a non-zero elapsed at the first ingest
    return fresh, 20


@pytest.fixture
def finished(rig: Rig, rig_jobs: RigJobs) -> RigJobs:
    """The batch once every job but ``long`` has ended (bounded sacct polling)."""
    state = {"missing": ""}

    def probe() -> bool | None:
        missing = finished_jobs(rig_jobs, rig_jobs.rows(rig))
        state["missing"] = missing or ""
        return True if missing is None else None

    try:
        wait_for("the batch to finish", probe, FINISH_TIMEOUT, interval=1.0)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; still waiting for {state['missing']} ({'; '.join(rig_jobs.notes)})"
        ) from None
    rig_jobs.notes.append(f"finished (but long) at +{time.time() - rig_jobs.t0:.1f} s")
    return rig_jobs


@pytest.fixture
def engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Engine]]:
    """Every configured backend at once (for a test that must step them in lockstep)."""
    path = tmp_path / "lockstep.db"
    shutil.copy(request.getfixturevalue("_sqlite_template"), path)
    out = {"sqlite": make_engine(f"sqlite:///{path}")}
    if PG_URL:
        pg = request.getfixturevalue("_pg_engine")
        _truncate_pg(pg)
        out["postgres"] = pg
    yield out
    out["sqlite"].dispose()
