"""Job lifecycles in recorded replies: requeues, arrays, heterogeneous jobs, pending and running
jobs, the rig's record field by field."""

from __future__ import annotations

import pytest

from connectors.slurm.decode import decode_jobs
from tests.slurm.decode_support import (
    RIG,
    V38,
    V43,
    records_by_id,
    records_of,
)
from tests.slurm.slurm_support import data

# --- lifecycle cases from the recorded data -----------------------------------------------------


def test_requeued_job_is_one_record_per_run_v43():
    runs = records_by_id(V43, 20)
    assert [(r.state, r.start, r.end, r.elapsed, r.restart_count) for r in runs] == [
        ("REQUEUED", 1795244709, 1795244727, 18, 0),  # state ["PENDING", "REQUEUED"]
        ("COMPLETED", 1795244854, 1795244894, 40, 1),
    ]
    assert [r.submit for r in runs] == [1795244681, 1795244727]
    assert all(r.final for r in runs)
    assert sum(r.gpu_seconds for r in runs) == 18 + 40


def test_node_fail_auto_requeue_keeps_both_records_v43():
    runs = records_by_id(V43, 5)
    assert [(r.state, r.elapsed, r.gpu_seconds, r.restart_count) for r in runs] == [
        ("NODE_FAIL", 0, 0, 0),
        ("CANCELLED", 48, 48, 1),
    ]


def test_requeued_job_v38_string_state():
    runs = records_by_id(V38, 6)
    assert [(r.state, r.elapsed, r.gpu_seconds, r.restart_count) for r in runs] == [
        ("REQUEUED", 10, 10, None),
        ("COMPLETED", 40, 40, None),
    ]


def test_array_tasks_rig_v38():
    tasks = {r.job_id: r for r in records_of(RIG) if r.array_job_id is not None}
    assert {job_id: r.array_task_id for job_id, r in tasks.items()} == {11: 0, 13: 1, 14: 2, 6: 3}
    assert {r.array_job_id for r in tasks.values()} == {6}
    plain = next(r for r in records_of(RIG) if r.job_id == 1)
    assert (plain.array_job_id, plain.array_task_id) == (None, None)


def test_array_tasks_v43_no_val_task_id():
    tasks = {r.job_id: (r.array_job_id, r.array_task_id) for r in records_of(V43) if r.array_job_id}
    assert tasks == {
        17: (4, 1),
        4: (4, 2),
        16: (4, 0),
        18: (18, 2),
        21: (18, 0),
        22: (18, 1),
        24: (23, 0),
    }


@pytest.mark.parametrize("name", [V38, V43])
def test_hetjob_components(name):
    components = {r.job_id: r for r in records_of(name) if r.het_job_id is not None}
    assert {(j, r.het_job_id, r.het_offset, r.gpus) for j, r in components.items()} == {
        (7, 7, 0, 1),
        (8, 7, 1, 0),
    }


def test_pending_job_has_no_usage():
    (record,) = decode_jobs(data("slurmdb_v0.0.38_job_8_pending.json")).records
    assert (record.state, record.start, record.end, record.elapsed) == ("PENDING", None, None, 0)
    assert (record.gpus, record.gpu_seconds, record.gpu_seconds_by_type()) == (0, 0, {})
    assert not record.final
    assert not record.started


def test_running_job_is_provisional():
    (record,) = decode_jobs(data("slurmdb_v0.0.38_job_12_running.json")).records
    assert (record.state, record.start, record.end, record.elapsed) == (
        "RUNNING",
        1795244719,
        None,
        85,
    )
    assert record.gpu_seconds == 85
    assert not record.final


def test_running_job_end_filled_in_by_a_truncating_query_is_dropped():
    # the flag-trap reply reports end = query time for the running job 13
    (record,) = [
        r
        for r in records_of("slurm-25.05.9pre_v0.0.43_jobs_truncated_skip_steps.json")
        if r.job_id == 13
    ]
    assert (record.state, record.end) == ("RUNNING", None)


def test_array_meta_record_sentinels_v43():
    meta, task = records_of("slurm-25.05.9pre_v0.0.43_job_23_array_meta_record.json")
    assert meta.job_id == 23
    assert (meta.start, meta.end, meta.state) == (None, 1795245112, "CANCELLED")  # start 4294967294
    assert (meta.array_job_id, meta.array_task_id, meta.gpus, meta.gpu_seconds) == (23, None, 0, 0)
    assert task.job_id == 24
    assert (task.array_job_id, task.array_task_id, task.gpu_seconds) == (23, 0, 8)


def test_rig_record_fields():
    record = next(r for r in records_of(RIG) if r.job_id == 2)
    assert record == type(record)(
        cluster="enact-local",
        job_id=2,
        submit=1795244709,
        account="chair-health",
        user="bob",
        partition="gpu-h100",
        qos="normal",
        state="COMPLETED",
        start=1795244710,
        end=1795244718,
        elapsed=8,
        gpus=2,
        gpus_by_type=(("h100", 2),),
        alloc_cpus=2,
        alloc_mem_mb=512,
        alloc_nodes=1,
    )


def test_two_node_job_is_not_multiplied_by_nodes():
    record = next(r for r in records_of(V38) if r.job_id == 20)
    assert (record.alloc_nodes, record.gpus, record.gpu_seconds) == (2, 4, 20)
