"""Enforcement seen from a job's side, on the real rigs (issue 14, must-shows 1 and 3).

The rigs run what sites use for this (``deploy/slurm/rig.sh``): ``priority/multifactor``
without decay, ``AccountingStorageEnforce=associations,limits,safe``, partitions weighing
their GPUs with the pool's rates (``TRESBillingWeights=GRES/gpu:a100=2000``), and the QOS
ladder ``normal`` > ``gpuhours-grace`` > ``gpuhours-blocked`` (``GrpJobs=0``). With ``safe``,
Slurm starts a job only if it can finish inside its account's ``GrpTRESMins`` budget: its
time limit times its billing must fit in what is left.

Each test works on its own account (``enf-live``) and removes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from accounting.ingestion import IngestReport
from allocator import services as svc
from allocator.model import Chair, ClusterRoute, Project, ProjectKind, SlurmAccount
from connectors.bootstrap import Services, build
from connectors.cli import main
from connectors.settings import ClusterConfig, Settings
from tests.builders import ADMIN, ALICE, BOB, CAL, H, national_pool
from tests.integration.rig_support import ingest
from tests.integration.slurm_rig import (
    Rig,
    rig_start,
    run,
    sbatch,
    stop_daemon,
    wait_accounted,
    wait_for,
    wait_state,
)

ACCOUNT = "enf-live"
PROJECT = "enf-live"
POOL = "enf-live-pool"
#: one a100 for a minute: 2 000 billing (the partition's weight) x 1 min
ONE_GPU_MINUTE = ("-p", "gpu-a100", "--gres=gpu:a100:1", "--time=1")


def sacctmgr(rig: Rig, *args: str, check: bool = True) -> str:
    return run(rig, "sacctmgr", *args, check=check).stdout


def _clean(rig: Rig) -> None:
    run(rig, "scancel", "-A", ACCOUNT, check=False)
    sacctmgr(rig, "-i", "delete", "user", "alice", f"account={ACCOUNT}", check=False)
    sacctmgr(rig, "-i", "delete", "account", ACCOUNT, f"cluster={rig.cluster}", check=False)


@pytest.fixture
def live_account(rig: Rig) -> Iterator[int]:
    """``enf-live`` under root with alice in it, no limit yet; once per rig (newest REST).
    Yields when it was made (epoch seconds): an earlier test's jobs of that name are older."""
    if rig.api_version != rig.kind.api_versions[-1]:
        pytest.skip("sacctmgr has no API version: once per rig (with its newest REST version)")
    _clean(rig)
    try:
        sacctmgr(rig, "-i", "add", "account", ACCOUNT, f"cluster={rig.cluster}", "parent=root")
        sacctmgr(rig, "-i", "add", "user", "alice", f"account={ACCOUNT}")
        yield int(time.time())
    finally:
        _clean(rig)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _config(rig: Rig, grace_milli: int) -> ClusterConfig:
    return rig.config(enforce="apply", grace_milli=grace_milli)


def _services(engine: Engine, config: ClusterConfig) -> Services:
    return build(Settings(database_url=_url(engine), clusters=[config]), engine=engine)


def _ledger(sv: Services, rig: Rig) -> str:
    """A pool routed to the rig at the rig's weights, alice's project mapped to enf-live."""
    now = datetime.now(UTC)
    period = CAL.containing(now).label
    with sv.uow() as uow:
        uow.users.add(ALICE)
        uow.commit()
    uow = sv.uow()
    pool = national_pool(id=POOL, routes=(ClusterRoute(rig.cluster, ""),))
    svc.create_pool(uow, ADMIN, now, pool)
    svc.add_grant(uow, ADMIN, now, POOL, 1_000 * H, "enforcement journey", calendar=CAL)
    svc.create_chair(uow, ADMIN, now, Chair("enf-live-chair", "Enforcement chair"))
    project = Project(PROJECT, "enf-live-chair", "Live", ProjectKind.RND, "alice")
    svc.create_project(uow, ADMIN, now, project)
    account = SlurmAccount(rig.cluster, ACCOUNT)
    svc.map_slurm_account(uow, ADMIN, now, PROJECT, account, clusters=[rig.cluster])
    svc.allocate_to_chair(
        uow, ADMIN, now, POOL, "enf-live-chair", period, 10 * H, "t", calendar=CAL
    )
    return period


def _enforce(rig: Rig, engine: Engine, config: ClusterConfig, verb: str) -> list[dict[str, Any]]:
    """``gpuhours -o json enforce VERB``, as an admin would run it on the Slurm host."""
    env = rig.env(
        GPUHOURS_DATABASE_URL=_url(engine),
        GPUHOURS_CLUSTERS=json.dumps([config.model_dump(mode="json")]),
        GPUHOURS_TIME_ZONE="UTC",
    )
    result = CliRunner().invoke(main, ["-o", "json", "enforce", verb], env=env)
    assert result.exit_code == 0, (verb, result.output, result.stderr)
    return list(json.loads(result.stdout))


def _applied(rows: list[dict[str, Any]]) -> dict[str, str]:
    """``attribute: after`` of what an apply wrote to enf-live."""
    return {r["attribute"]: r["after"] for r in rows if r["outcome"] == "applied"}


def _pending_reason(rig: Rig, job_id: int) -> str:
    def reason() -> str | None:
        out = run(rig, "squeue", "-h", "-j", str(job_id), "-o", "%T %r").stdout.split()
        return (
            out[1] if out and out[0] == "PENDING" and out[1] not in ("None", "Priority") else None
        )

    return wait_for(f"job {job_id} held by a limit", reason, timeout=30)


def _qos_of(rig: Rig, job_id: int) -> str:
    return run(rig, "squeue", "-h", "--states=all", "-j", str(job_id), "-o", "%q").stdout.strip()


def _ingest_from(engine: Engine, config: ClusterConfig, since: int) -> None:
    """The first ingestion of a test: from when its account was made (not the rig's past)."""
    _ingested(engine, config, since=since - 1)


def _ingested(engine: Engine, config: ClusterConfig, since: int | None = None) -> IngestReport:
    """An ingestion that succeeded (a failed one would leave gpuhours' usage behind)."""
    report = ingest(engine, config, since=since)
    assert report.ok, report
    return report


def _used(sv: Services, config: ClusterConfig) -> int:
    """gpuhours' own count of the project's use this period (pool unit-seconds)."""
    from connectors import enforcement

    plan = enforcement.plan(sv, ADMIN, config)
    [mine] = [d for d in plan.desired if d.account == ACCOUNT]
    return mine.used


def _counted(sv: Services, engine: Engine, config: ClusterConfig, since: int | None = None) -> int:
    """Ingest until gpuhours counts the project's finished jobs (bounded): on a loaded host
    slurmdbd can list a job as ended before its whole record (its TRES) is written."""

    def probe() -> int | None:
        _ingested(engine, config, since=since)
        return _used(sv, config) or None

    return wait_for("gpuhours to count the project's jobs", probe, timeout=60, interval=2)


def test_a_project_out_of_hours_is_held_by_slurm_until_an_admin_approves_more(
    rig: Rig, engine: Engine, live_account: int
) -> None:
    config = _config(rig, grace_milli=250)
    sv = _services(engine, config)
    period = _ledger(sv, rig)
    now = datetime.now(UTC)
    # 96 unit-seconds + 25 % = 120 = one a100 for one minute at 2 units: 2 000 billing-minutes
    svc.allocate_to_project(sv.uow(), ADMIN, now, POOL, PROJECT, period, 96, "few", calendar=CAL)
    _ingest_from(engine, config, live_account)  # gpuhours' usage is fresh: enforcement may tighten
    assert _applied(_enforce(rig, engine, config, "apply")) == {
        "RawUsage": f"0 for {period}",  # Slurm's counter starts the period at 0
        "GrpTRESMins": "2000",
        "QOS": "normal",
    }

    first = sbatch(rig, "alice", "-A", ACCOUNT, *ONE_GPU_MINUTE, "--wrap", "sleep 3")
    assert wait_state(rig, first, ["COMPLETED"]) == "COMPLETED"
    wait_accounted(rig, first)  # what ingestion reads
    # what is left (2 000 minus the ~100 used) no longer holds a one-minute job
    held = sbatch(rig, "alice", "-A", ACCOUNT, *ONE_GPU_MINUTE, "--wrap", "sleep 1")
    assert _pending_reason(rig, held) == "AssocGrpBillingMinutes"

    asked = svc.submit_request(
        sv.uow(), ALICE, datetime.now(UTC), PROJECT, POOL,
        [(period, 1 * H)], "the held job", calendar=CAL,
    )  # fmt: skip
    svc.approve_request(sv.uow(), ADMIN, datetime.now(UTC), asked.id, calendar=CAL)
    _counted(sv, engine, config)
    # Slurm's own counter agrees with gpuhours' count of the first job (6 unit-seconds)
    [drift] = [d for d in _enforce(rig, engine, config, "drift") if d["account"] == ACCOUNT]
    assert drift["gpuhours_hours"] > 0 and drift["flagged"] is False, drift
    raised = _applied(_enforce(rig, engine, config, "apply"))
    assert raised == {"GrpTRESMins": str((96 + H) * 1250 // 1000 * 1000 // 60)}
    assert wait_state(rig, held, ["RUNNING", "COMPLETED"], timeout=30) in ("RUNNING", "COMPLETED")
    assert _applied(_enforce(rig, engine, config, "apply")) == {}  # nothing more to do


def test_the_qos_ladder_lowers_a_project_over_its_hours_then_holds_it_beyond_the_band(
    rig: Rig, engine: Engine, live_account: int
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the ladder once per rig, on SQLite (the held job runs on both databases)")
    config = _config(rig, grace_milli=10_000)  # a band of +1 000 %: room for a one-minute job
    sv = _services(engine, config)
    period = _ledger(sv, rig)
    # four a100s for ~4 s before any limit: about 32 unit-seconds used (at 2 units a GPU-second)
    burst = sbatch(
        rig, "alice", "-A", ACCOUNT, "-p", "gpu-a100", "--gres=gpu:a100:4", "--time=1",
        "--wrap", "sleep 4",
    )  # fmt: skip
    assert wait_state(rig, burst, ["COMPLETED"]) == "COMPLETED"
    wait_accounted(rig, burst)  # what ingestion reads
    used = _counted(sv, engine, config, since=live_account - 1)
    assert used >= 16  # so that 11 x (used - 1) - used leaves a one-minute job room

    # over its hours (used > allocated) but inside the band: the grace QOS, jobs still run
    now = datetime.now(UTC)
    allocated = used - 1
    svc.allocate_to_project(
        sv.uow(), ADMIN, now, POOL, PROJECT, period, allocated, "t", calendar=CAL
    )
    assert _applied(_enforce(rig, engine, config, "apply"))["QOS"] == "gpuhours-grace"
    lowered = sbatch(rig, "alice", "-A", ACCOUNT, *ONE_GPU_MINUTE, "--wrap", "sleep 1")
    assert wait_state(rig, lowered, ["RUNNING", "COMPLETED"]) in ("RUNNING", "COMPLETED")
    assert _qos_of(rig, lowered) == "gpuhours-grace"

    # an admin takes hours back to 1 unit-second: used is beyond the band (11), it is blocked
    take = allocated - 1
    svc.adjust(sv.uow(), ADMIN, now, POOL, PROJECT, period, -take, "overrun", calendar=CAL)
    _ingested(engine, config)
    assert _applied(_enforce(rig, engine, config, "apply"))["QOS"] == "gpuhours-blocked"
    blocked = sbatch(rig, "alice", "-A", ACCOUNT, *ONE_GPU_MINUTE, "--wrap", "sleep 1")
    assert _pending_reason(rig, blocked) in ("QOSGrpJobsLimit", "AssocGrpBillingMinutes")
    assert _qos_of(rig, blocked) == "gpuhours-blocked"


SYNCED = ("enf-sync", "enf-sync-chair")


def _unsync(rig: Rig) -> None:
    for user in ("alice", "bob"):
        sacctmgr(rig, "-i", "delete", "user", user, f"account={SYNCED[0]}", check=False)
    for name in SYNCED:
        sacctmgr(rig, "-i", "delete", "account", name, f"cluster={rig.cluster}", check=False)


def _tree(rig: Rig) -> list[str]:
    return sacctmgr(
        rig, "-nP", "show", "assoc", "where", f"cluster={rig.cluster}",
        f"account={','.join(SYNCED)}", "format=Account,User,ParentName,GrpTRESMins,QOS",
    ).splitlines()  # fmt: skip


def test_sync_makes_a_new_projects_account_under_its_chair_with_both_members(
    rig: Rig, engine: Engine
) -> None:
    if rig.api_version != rig.kind.api_versions[-1] or engine.dialect.name != "sqlite":
        pytest.skip("once per rig, on SQLite (sacctmgr has no REST version; the sync is pure)")
    _unsync(rig)
    since = int(time.time())
    try:
        config = rig.config(enforce="apply", sync_accounts=True)
        sv = _services(engine, config)
        now = datetime.now(UTC)
        period = CAL.containing(now).label
        with sv.uow() as uow:
            uow.users.add(ALICE)
            uow.users.add(BOB)
            uow.commit()
        uow = sv.uow()
        svc.create_pool(
            uow, ADMIN, now, national_pool(id=POOL, routes=(ClusterRoute(rig.cluster, ""),))
        )
        svc.add_grant(uow, ADMIN, now, POOL, 100 * H, "sync journey", calendar=CAL)
        svc.create_chair(uow, ADMIN, now, Chair(SYNCED[1], "Synced chair"))
        project = Project(SYNCED[0], SYNCED[1], "Synced", ProjectKind.RND, "alice", ("bob",))
        svc.create_project(uow, ADMIN, now, project)
        account = SlurmAccount(rig.cluster, SYNCED[0])
        svc.map_slurm_account(uow, ADMIN, now, SYNCED[0], account, clusters=[rig.cluster])
        svc.allocate_to_chair(uow, ADMIN, now, POOL, SYNCED[1], period, 2 * H, "t", calendar=CAL)
        svc.allocate_to_project(uow, ADMIN, now, POOL, SYNCED[0], period, 1 * H, "t", calendar=CAL)
        _ingest_from(engine, config, since)

        first = _enforce(rig, engine, config, "apply")
        assert [(r["account"], r["attribute"], r["after"]) for r in first][:4] == [
            (SYNCED[1], "account", "root"),
            (SYNCED[0], "account", SYNCED[1]),
            (SYNCED[0], "user", "alice"),
            (SYNCED[0], "user", "bob"),
        ]  # then, in the same apply, the new account's counter, limit and QOS
        assert {r["outcome"] for r in first} == {"applied"}
        limit = (1 * H) * 1250 // 1000 * 1000 // 60
        tree = _tree(rig)
        assert sorted(tree) == sorted([
            f"{SYNCED[1]}||root||normal",
            f"{SYNCED[0]}||{SYNCED[1]}|billing={limit}|normal",
            f"{SYNCED[0]}|alice|||normal",
            f"{SYNCED[0]}|bob|||normal",
        ])  # fmt: skip
        for user in ("alice", "bob"):  # both members can run jobs on it
            job = sbatch(rig, user, "-A", SYNCED[0], *ONE_GPU_MINUTE, "--wrap", "true")
            assert wait_state(rig, job, ["COMPLETED"]) == "COMPLETED"

        assert _enforce(rig, engine, config, "plan") == []
        with sv.uow() as uow:
            audited = [e for e in uow.audit.list() if e.action == "enforce.apply"]
        assert _applied(_enforce(rig, engine, config, "apply")) == {}
        assert _tree(rig) == tree
        with sv.uow() as uow:
            assert [e for e in uow.audit.list() if e.action == "enforce.apply"] == audited
    finally:
        _unsync(rig)


def _metric(sv: Services, name: str, cluster: str) -> float:
    from connectors.metrics import build_metrics

    text = build_metrics(sv).exposition("scraper").decode()
    prefix = f'gpuhours_enforce_{name}{{cluster="{cluster}"}} '
    [line] = [x for x in text.splitlines() if x.startswith(prefix)]
    return float(line.split()[-1])


def _audit(sv: Services, action: str) -> list[str]:
    with sv.uow() as uow:
        return [e.detail for e in uow.audit.list() if e.action == action]


def test_faults_leave_an_error_a_metric_and_an_audit_and_the_next_run_completes(
    rig: Rig, engine: Engine, live_account: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sacctmgr failing its writes, then slurmdbd down, under the scheduled job (slurmrestd
    refusing writes does not apply: enforcement writes through sacctmgr only)."""
    if rig.name != "22.05" or engine.dialect.name != "sqlite":
        pytest.skip("once, on the 22.05 rig and SQLite: the faults are Slurm's, not the rig's")
    from connectors import scheduler

    failing = tmp_path / "fail-writes"
    wrapper = tmp_path / "sacctmgr"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" modify "*|*" add "*) if [ -e {failing} ]; then\n'
        '  echo "sacctmgr: error: Problem talking to the database: Connection refused" >&2\n'
        "  exit 1; fi;; esac\n"
        'exec sacctmgr "$@"\n'
    )
    wrapper.chmod(0o755)
    for name in ("SLURM_CONF", "PATH"):
        monkeypatch.setenv(name, rig.env()[name])
    config = rig.config(enforce="apply", sacctmgr=str(wrapper))
    sv = _services(engine, config)
    period = _ledger(sv, rig)
    now = datetime.now(UTC)
    svc.allocate_to_project(sv.uow(), ADMIN, now, POOL, PROJECT, period, 1 * H, "t", calendar=CAL)
    _ingest_from(engine, config, live_account)
    monkeypatch.setattr(scheduler, "_services", sv)
    held = sacctmgr(
        rig, "-nP", "show", "assoc", "where", f"account={ACCOUNT}", "format=User,GrpTRESMins,QOS"
    )

    # sacctmgr refuses every write: each change tried is a failure, audited and counted
    failing.touch()
    assert scheduler.enforce_cluster(rig.cluster) is False
    assert _metric(sv, "failed_total", rig.cluster) == 3  # counter reset, limit, QOS
    failures = _audit(sv, "enforce.apply")
    assert len(failures) == 3 and all(
        "(failed: " in d and "Connection refused" in d for d in failures
    )
    assert sacctmgr(rig, "-nP", "show", "assoc", "where", f"account={ACCOUNT}",
                    "format=User,GrpTRESMins,QOS") == held  # fmt: skip
    # the next run completes the rest
    failing.unlink()
    assert scheduler.enforce_cluster(rig.cluster) is True
    assert _metric(sv, "applied_total", rig.cluster) == 3
    limit = H * 1250 // 1000 * 1000 // 60
    assert f"billing={limit}" in sacctmgr(rig, "-nP", "show", "assoc", "where",
                                           f"account={ACCOUNT}", "format=GrpTRESMins")  # fmt: skip

    # slurmdbd down: nothing can be read, so nothing is tightened; the run says so
    svc.allocate_to_project(sv.uow(), ADMIN, now, POOL, PROJECT, period, 1 * H, "t", calendar=CAL)
    stop_daemon(rig, "slurmdbd")
    try:
        scheduler.enforce_cluster(rig.cluster)
        assert _metric(sv, "unread_total", rig.cluster) == 1
        [unread] = _audit(sv, "enforce.unread")
        assert "change(s) not made" in unread, unread
    finally:
        rig_start(rig)
    assert scheduler.enforce_cluster(rig.cluster) is True  # slurmdbd back: the raise is made
    raised = (2 * H) * 1250 // 1000 * 1000 // 60
    assert f"billing={raised}" in sacctmgr(rig, "-nP", "show", "assoc", "where",
                                            f"account={ACCOUNT}", "format=GrpTRESMins")  # fmt: skip
