"""The normaliser: shapes of every version, lifecycle cases, GPU rules, sentinels, quarantine."""

from __future__ import annotations

import copy
import gc
import json
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from connectors.slurm.decode import decode_jobs
from connectors.slurm.errors import (
    SlurmAuthError,
    SlurmPayloadError,
    SlurmRejected,
    SlurmUnavailable,
)
from connectors.slurm.wire import detect_version, version_number
from tests.slurm.slurm_support import data, data_json

V38 = "slurm-22.05.8_v0.0.38_jobs.json"
V43 = "slurm-25.05.9pre_v0.0.43_jobs.json"
RIG = "slurmdb_v0.0.38_jobs_window_uts.json"


def _records(name: str) -> list[Any]:
    return decode_jobs(data(name)).records


def _by_id(name: str, job_id: int) -> list[Any]:
    return sorted((r for r in _records(name) if r.job_id == job_id), key=lambda r: r.submit)


def _template(name: str, job_id: int) -> dict[str, Any]:
    job = next(j for j in data_json(name)["jobs"] if j["job_id"] == job_id)
    job = copy.deepcopy(job)
    job["steps"] = []
    return job


def _decode(*jobs: dict[str, Any], **envelope: Any) -> Any:
    return decode_jobs(json.dumps({"errors": [], "warnings": [], **envelope, "jobs": list(jobs)}))


def _one(job: dict[str, Any]) -> Any:
    result = _decode(job)
    assert result.quarantined == []
    (record,) = result.records
    return record


def _gres(*items: tuple[str, int | None], extra: tuple[dict[str, Any], ...] = ()) -> list[Any]:
    return [
        {"type": "gres", "name": n, "id": 1000 + i, "count": c} for i, (n, c) in enumerate(items)
    ]


# --- lifecycle cases from the recorded data -----------------------------------------------------


def test_requeued_job_is_one_record_per_run_v43():
    runs = _by_id(V43, 20)
    assert [(r.state, r.start, r.end, r.elapsed, r.restart_count) for r in runs] == [
        ("REQUEUED", 1795244709, 1795244727, 18, 0),  # state ["PENDING", "REQUEUED"]
        ("COMPLETED", 1795244854, 1795244894, 40, 1),
    ]
    assert [r.submit for r in runs] == [1795244681, 1795244727]
    assert all(r.final for r in runs)
    assert sum(r.gpu_seconds for r in runs) == 18 + 40


def test_node_fail_auto_requeue_keeps_both_records_v43():
    runs = _by_id(V43, 5)
    assert [(r.state, r.elapsed, r.gpu_seconds, r.restart_count) for r in runs] == [
        ("NODE_FAIL", 0, 0, 0),
        ("CANCELLED", 48, 48, 1),
    ]


def test_requeued_job_v38_string_state():
    runs = _by_id(V38, 6)
    assert [(r.state, r.elapsed, r.gpu_seconds, r.restart_count) for r in runs] == [
        ("REQUEUED", 10, 10, None),
        ("COMPLETED", 40, 40, None),
    ]


def test_array_tasks_rig_v38():
    tasks = {r.job_id: r for r in _records(RIG) if r.array_job_id is not None}
    assert {job_id: r.array_task_id for job_id, r in tasks.items()} == {11: 0, 13: 1, 14: 2, 6: 3}
    assert {r.array_job_id for r in tasks.values()} == {6}
    plain = next(r for r in _records(RIG) if r.job_id == 1)
    assert (plain.array_job_id, plain.array_task_id) == (None, None)


def test_array_tasks_v43_no_val_task_id():
    tasks = {r.job_id: (r.array_job_id, r.array_task_id) for r in _records(V43) if r.array_job_id}
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
    components = {r.job_id: r for r in _records(name) if r.het_job_id is not None}
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
        for r in _records("slurm-25.05.9pre_v0.0.43_jobs_truncated_skip_steps.json")
        if r.job_id == 13
    ]
    assert (record.state, record.end) == ("RUNNING", None)


def test_array_meta_record_sentinels_v43():
    meta, task = _records("slurm-25.05.9pre_v0.0.43_job_23_array_meta_record.json")
    assert meta.job_id == 23
    assert (meta.start, meta.end, meta.state) == (None, 1795245112, "CANCELLED")  # start 4294967294
    assert (meta.array_job_id, meta.array_task_id, meta.gpus, meta.gpu_seconds) == (23, None, 0, 0)
    assert task.job_id == 24
    assert (task.array_job_id, task.array_task_id, task.gpu_seconds) == (23, 0, 8)


def test_rig_record_fields():
    record = next(r for r in _records(RIG) if r.job_id == 2)
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
    record = next(r for r in _records(V38) if r.job_id == 20)
    assert (record.alloc_nodes, record.gpus, record.gpu_seconds) == (2, 4, 20)


# --- version shapes, synthetic --------------------------------------------------------------


def test_v39_shape_string_state_and_no_val_objects():
    job = _template(V43, 7)  # het component: offset as no-val object
    job["state"]["current"] = "COMPLETED"
    del job["restart_cnt"]
    record = _one(job)
    assert (record.state, record.het_job_id, record.het_offset, record.restart_count) == (
        "COMPLETED",
        7,
        0,
        None,
    )


def test_v45_sluid_is_kept():
    job = _template(V43, 1)
    job["sluid"] = "s0123456789ABC"
    job["original_sluid"] = "s0123456789ABC"
    job["exclusive"] = "USER"
    assert _one(job).sluid == "s0123456789ABC"


def test_empty_sluid_is_none():
    job = _template(V43, 1)
    job["sluid"] = ""
    assert _one(job).sluid is None


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (["COMPLETED"], "COMPLETED"),
        (["PENDING", "REQUEUED"], "REQUEUED"),
        (["REQUEUED", "PENDING"], "REQUEUED"),
        (["CANCELLED", "COMPLETING"], "CANCELLED"),
        (["COMPLETING", "RUNNING"], "RUNNING"),  # a flag first: the base state wins
        (["PENDING", "EXPEDITING"], "PENDING"),  # v0.0.44 flag
        (["SOMETHING_NEW"], "SOMETHING_NEW"),  # unknown: kept, never a crash
        ([], "UNKNOWN"),
        ("TIMEOUT", "TIMEOUT"),
        ("CANCELLED by 1003", "CANCELLED"),
        ("", "UNKNOWN"),
        (None, "UNKNOWN"),
    ],
)
def test_state(current, expected):
    job = _template(V43, 1)
    job["state"]["current"] = current
    assert _one(job).state == expected


def test_unknown_fields_are_ignored():
    job = _template(V43, 1)
    job["brand_new_field"] = {"nested": [1, 2, {"x": None}]}
    job["time"]["brand_new_time"] = 12
    job["tres"]["allocated"].append({"type": "license", "name": "matlab", "id": 9, "count": 3})
    assert _one(job).gpus == 2


# --- times and sentinels ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, None, 4294967294, 4294967295, -1])
def test_unset_start_means_not_started(value):
    job = _template(V43, 1)
    job["time"]["start"] = value
    record = _one(job)
    assert record.start is None
    assert record.gpu_seconds == 0


@pytest.mark.parametrize("value", [0, None, 4294967294, 4294967295])
def test_unset_end(value):
    job = _template(V43, 1)
    job["time"]["end"] = value
    assert _one(job).end is None


@pytest.mark.parametrize(("value", "expected"), [(None, 0), (-5, 0), (4294967294, 0), (7, 7)])
def test_elapsed(value, expected):
    job = _template(V43, 1)
    job["time"]["elapsed"] = value
    assert _one(job).elapsed == expected


# --- GPU rules -------------------------------------------------------------------------------


def _with_tres(allocated: list[dict[str, Any]]) -> Any:
    job = _template(V43, 1)
    job["tres"]["allocated"] = allocated
    job["time"]["elapsed"] = 10
    return _one(job)


def test_untyped_count_wins_over_typed_breakdown():
    record = _with_tres(_gres(("gpu", 2), ("gpu:a100", 2)))
    assert (record.gpus, record.gpus_by_type) == (2, (("a100", 2),))
    assert record.gpu_seconds_by_type() == {"a100": 20}


def test_typed_only_are_summed():
    record = _with_tres(_gres(("gpu:h100", 2), ("gpu:a100", 1)))
    assert (record.gpus, record.gpus_by_type) == (3, (("a100", 1), ("h100", 2)))


def test_partially_tracked_types_leave_an_untyped_rest():
    record = _with_tres(_gres(("gpu", 3), ("gpu:a100", 1)))
    assert record.gpu_seconds_by_type() == {"a100": 10, "": 20}


@pytest.mark.parametrize("count", [None, 0, -2])
def test_non_positive_counts_are_ignored(count):
    record = _with_tres(_gres(("gpu", count), ("gpu:a100", count)))
    assert (record.gpus, record.gpus_by_type) == (0, ())


def test_gpumem_gpuutil_and_non_gres_are_not_gpus():
    allocated = _gres(("gpumem", 81920), ("gpuutil", 100), ("gpu", 1))
    allocated.append({"type": "license", "name": "gpu", "id": 7, "count": 5})
    assert _with_tres(allocated).gpus == 1


def test_cpu_mem_node_from_allocated():
    allocated = [
        {"type": "cpu", "name": "", "id": 1, "count": 16},
        {"type": "mem", "name": "", "id": 2, "count": 64000},
        {"type": "node", "name": "", "id": 4, "count": 2},
        {"type": "energy", "name": "", "id": 3, "count": -2},
        *_gres(("gpu", 8)),
    ]
    record = _with_tres(allocated)
    assert (record.alloc_cpus, record.alloc_mem_mb, record.alloc_nodes, record.gpus) == (
        16,
        64000,
        2,
        8,
    )


def test_requested_tres_are_not_used():
    job = _template(V43, 1)
    job["tres"]["allocated"] = []
    assert job["tres"]["requested"]  # the template asked for GPUs
    assert _one(job).gpus == 0


# --- quarantine ------------------------------------------------------------------------------


def test_bad_records_are_quarantined_and_the_rest_decoded():
    reply = data_json("slurmdb_v0.0.38_jobs_hour07_final.json")
    jobs = reply["jobs"]
    del jobs[0]["job_id"]  # job 1
    del jobs[1]["time"]  # job 2
    jobs[2]["time"]["start"] = "yesterday"  # job 3
    jobs[3]["cluster"] = None  # job 4
    jobs[4]["job_id"] = "5"  # job 5, wrong type
    result = decode_jobs(json.dumps(reply))
    assert sorted(r.job_id for r in result.records) == [6, 7, 9, 10, 11, 12, 13, 14]
    assert [q.job_id for q in result.quarantined] == [None, 2, 3, 4, 5]
    reasons = [q.reason for q in result.quarantined]
    assert "job_id" in reasons[0]
    assert "time" in reasons[1]
    assert "$.time.start" in reasons[2]
    assert "$.cluster" in reasons[3]
    assert "$.job_id" in reasons[4]
    # the raw record is kept verbatim
    assert json.loads(result.quarantined[1].raw)["job_id"] == 2
    assert "yesterday" in result.quarantined[2].raw


def test_quarantine_path_gives_the_same_records_as_the_fast_path():
    reply = data_json(V43)
    good = decode_jobs(json.dumps(reply)).records
    reply["jobs"].insert(3, {"job_id": 999, "cluster": "lab25"})
    slow = decode_jobs(json.dumps(reply))
    assert slow.records == good
    assert [(q.job_id, "time" in q.reason) for q in slow.quarantined] == [(999, True)]


def test_a_record_that_is_not_an_object_is_quarantined():
    result = _decode(_template(V43, 1), 42, "text", None)
    assert len(result.records) == 1
    assert [q.job_id for q in result.quarantined] == [None, None, None]


# --- envelope --------------------------------------------------------------------------------


def test_nothing_found_is_an_empty_result():
    result = decode_jobs(data("error_unknown_job.json"))
    assert result == ([], [], [])


def test_v40_warnings_are_returned():
    result = _decode(warnings=[{"description": 'Ignoring unknown field "foo"', "source": "x"}])
    assert result.warnings == ['Ignoring unknown field "foo" [x]']


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("error_bad_token_slurmdb_jobs.json", SlurmAuthError),
        ("error_token_user_mismatch.json", SlurmAuthError),
        ("error_bad_token_slurmdb_associations.json", SlurmAuthError),
        ("error_bad_time_epoch.json", SlurmRejected),
        ("error_unknown_query_field_users.json", SlurmRejected),
    ],
)
def test_errors_in_a_reply_raise_even_on_http_200(name, error):
    with pytest.raises(error) as info:
        decode_jobs(data(name))
    assert not isinstance(info.value, SlurmUnavailable)


def test_auth_error_carries_the_slurm_error():
    with pytest.raises(SlurmAuthError) as info:
        decode_jobs(data("error_bad_token_slurmdb_jobs.json"))
    assert info.value.error_numbers == (1007,)
    assert "Protocol authentication error" in str(info.value)


def test_db_connection_error_is_transient():
    body = {"errors": [{"error_number": 7000, "error": "Unable to connect to database"}]}
    with pytest.raises(SlurmUnavailable):
        decode_jobs(json.dumps(body))


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b'{"jobs": [', b"[]", b'{"meta": {}}', b'{"jobs": 3}', b'{"errors": 1}'],
)
def test_payload_errors(body):
    with pytest.raises(SlurmPayloadError):
        decode_jobs(body)


# --- versions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version"),
    [
        (V38, "v0.0.38"),
        (V43, "v0.0.43"),
        ("slurm-25.05.9pre_v0.0.40_jobs.json", "v0.0.40"),
        ("sacct.json", "v0.0.38"),
        ("slurmdb_v0.0.37_jobs.json", "v0.0.37"),
    ],
)
def test_detect_version(name, version):
    assert detect_version(data(name)) == version


def test_version_number():
    assert version_number("v0.0.43") == 43
    for bad in ("v0.0.36", "v0.0.47", "0.0.40", "v1"):
        with pytest.raises(ValueError, match="version"):
            version_number(bad)


# --- robustness ------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_PATHS = [
    ("job_id",),
    ("cluster",),
    ("account",),
    ("time",),
    ("time", "submission"),
    ("time", "start"),
    ("time", "end"),
    ("time", "elapsed"),
    ("state",),
    ("state", "current"),
    ("tres",),
    ("tres", "allocated"),
    ("array",),
    ("array", "task_id"),
    ("het", "job_offset"),
    ("restart_cnt",),
    ("sluid",),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mutations=st.lists(
        st.tuples(st.sampled_from(_PATHS), st.one_of(st.just("<delete>"), _JSON)), max_size=4
    ),
    base=st.sampled_from([(V38, 20), (V43, 20), (V43, 7), (RIG, 8)]),
)
def test_any_mutation_is_decoded_or_quarantined_never_raised(mutations, base):
    job = _template(*base)
    for path, value in mutations:
        target: Any = job
        for key in path[:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if value == "<delete>":
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
    result = _decode(job, _template(V43, 1))
    assert len(result.records) + len(result.quarantined) == 2
    for record in result.records:
        assert record.gpus >= 0
        assert record.elapsed >= 0
        assert record.start is None or 0 < record.start < 4294967294
        assert record.end is None or 0 < record.end < 4294967294
        assert record.gpu_seconds >= 0


# --- big replies -----------------------------------------------------------------------------


def _big_reply(n: int = 1500) -> bytes:
    template = _template(V43, 1)
    jobs = []
    for i in range(n):
        job = copy.deepcopy(template)
        job["job_id"] = 1000 + i
        jobs.append(job)
    body = json.dumps({"errors": [], "warnings": [], "jobs": jobs}, indent=1).encode()
    assert len(body) > 4_000_000  # large enough for the collector pause
    return body


def test_big_reply_leaves_the_garbage_collector_as_it_was():
    body = _big_reply()
    assert gc.isenabled()
    assert len(decode_jobs(body).records) == 1500
    assert gc.isenabled()
    with pytest.raises(SlurmPayloadError):
        decode_jobs(body[:-10])
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(decode_jobs(body).records) == 1500
        assert not gc.isenabled()
    finally:
        gc.enable()
