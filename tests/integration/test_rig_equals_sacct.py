"""gpuhours against a real Slurm, 22.05 and 24.11 (the rigs of ``deploy/slurm``): what it
ingests through slurmrestd must equal what Slurm's own ``sacct`` says, run by run, per account
and per GPU type, with every API version the rig serves; an account mapped later attributes
past jobs.

One batch of jobs (``conftest.rig_jobs``) is shared by every test of the rig; only that batch
is compared (the rig's accounting holds older jobs, and other people may use it concurrently).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from accounting.usage import UsageRecord
from allocator import services as svc
from allocator.model import Chair, Project, ProjectKind, Role, SlurmAccount, User
from connectors.bootstrap import build
from connectors.db.usage_queries import account_usage
from connectors.db.usage_store import SqlUsageStore
from connectors.ingest import RestUsageSource, token_provider
from connectors.settings import Settings
from connectors.slurm.client import SlurmRestClient
from connectors.slurm.errors import SlurmRejected
from tests.integration.rig_support import (
    assert_usage_equal,
    done_rows,
    ingest,
    stored,
)
from tests.integration.slurm_rig import (
    Rig,
    RigJobs,
    SacctRow,
    any_rig_reason,
    sacct,
    squeue_states,
    usage_of_records,
    usage_of_sacct,
    wait_for,
)

REASON = any_rig_reason()
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


# --- 1. equality with sacct --------------------------------------------------------------------


def test_running_job_is_provisional_then_final(
    rig: Rig, rig_jobs: RigJobs, running_job: tuple[int, int], engines: dict[str, Engine]
) -> None:
    """Ingested twice while it runs (provisional, growing), then once it ended (final, exact).

    Both backends are stepped in lockstep: there is one long job, and both must see it run.
    """
    long_id, sleeps = running_job
    config = rig.config()
    since = rig_jobs.t0 - 60
    assert squeue_states(rig, long_id) == ["RUNNING"], (
        f"job {long_id} (sleep {sleeps}) already ended: the rig was too slow for this test"
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
        assert final_row.elapsed >= sleeps - 5


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
    if rig.kind.two_node_partition:  # 24.11: a partition over both nodes
        [two_node] = mine["two_node"]  # --gres=gpu:1 per node: one A100 and one H100
        assert two_node.alloc_nodes == 2 and two_node.gpus == 2
        assert two_node.gpus_by_type == (("a100", 1), ("h100", 1))
        het = sorted(mine["het"], key=lambda r: r.het_offset or 0)
        assert [r.het_offset for r in het] == [0, 1]
        assert {r.het_job_id for r in het} == {finished.ids["het"]}
        assert [r.gpus_by_type for r in het] == [(("a100", 1),), (("h100", 2),)]
        assert all(r.gpu_seconds > 0 for r in het)  # both components are charged


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
    mapping = SlurmAccount(rig.cluster, account)
    # the rig's cluster is a configured one (its usage was ingested above)
    svc.map_slurm_account(sv.uow(), admin, now, "thesis-01", mapping, clusters=[rig.cluster])

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


# --- version discovery ---------------------------------------------------------------------------


def test_discovery_picks_the_newest_version_the_rig_serves(rig: Rig) -> None:
    """Discovery reads the server's /openapi/v3: 22.05 -> v0.0.38, 24.11 -> v0.0.42; every
    version the rig serves answers a window, one it does not serve is a 404 rejection."""
    source = RestUsageSource(rig.config(api_version=""))
    try:
        assert source.client.api_version == rig.kind.api_versions[-1]
    finally:
        source.client.close()
    for version in (*rig.kind.api_versions, "v0.0.39"):
        with SlurmRestClient(
            rig.url, rig.user, token_provider(rig.config()), version, attempts=1
        ) as client:
            if version in rig.kind.api_versions:
                page = client.jobs(1000000000, 1000000001)  # an empty window in 2001
                assert page.records == [] and page.api_version == version
            else:
                with pytest.raises(SlurmRejected) as caught:
                    client.jobs(1000000000, 1000000001)
                assert caught.value.status == 404
