"""The normalisation rules on synthetic records: the shapes of every version, states, times and
sentinels, GPUs and the other allocated TRES."""

from __future__ import annotations

import pytest

from tests.slurm.decode_support import (
    V43,
    gres,
    job_template,
    one_record,
    with_allocated,
)

# --- version shapes, synthetic --------------------------------------------------------------


def test_v39_shape_string_state_and_no_val_objects():
    job = job_template(V43, 7)  # het component: offset as no-val object
    job["state"]["current"] = "COMPLETED"
    del job["restart_cnt"]
    record = one_record(job)
    assert (record.state, record.het_job_id, record.het_offset, record.restart_count) == (
        "COMPLETED",
        7,
        0,
        None,
    )


def test_v45_sluid_is_kept():
    job = job_template(V43, 1)
    job["sluid"] = "s0123456789ABC"
    job["original_sluid"] = "s0123456789ABC"
    job["exclusive"] = "USER"
    assert one_record(job).sluid == "s0123456789ABC"


def test_empty_sluid_is_none():
    job = job_template(V43, 1)
    job["sluid"] = ""
    assert one_record(job).sluid is None


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
    job = job_template(V43, 1)
    job["state"]["current"] = current
    assert one_record(job).state == expected


def test_unknown_fields_are_ignored():
    job = job_template(V43, 1)
    job["brand_new_field"] = {"nested": [1, 2, {"x": None}]}
    job["time"]["brand_new_time"] = 12
    job["tres"]["allocated"].append({"type": "license", "name": "matlab", "id": 9, "count": 3})
    assert one_record(job).gpus == 2


# --- times and sentinels ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, None, 4294967294, 4294967295, -1])
def test_unset_start_means_not_started(value):
    job = job_template(V43, 1)
    job["time"]["start"] = value
    record = one_record(job)
    assert record.start is None
    assert record.gpu_seconds == 0


@pytest.mark.parametrize("value", [0, None, 4294967294, 4294967295])
def test_unset_end(value):
    job = job_template(V43, 1)
    job["time"]["end"] = value
    assert one_record(job).end is None


@pytest.mark.parametrize(("value", "expected"), [(None, 0), (-5, 0), (4294967294, 0), (7, 7)])
def test_elapsed(value, expected):
    job = job_template(V43, 1)
    job["time"]["elapsed"] = value
    assert one_record(job).elapsed == expected


# --- GPU rules -------------------------------------------------------------------------------


def test_untyped_count_wins_over_typed_breakdown():
    record = with_allocated(gres(("gpu", 2), ("gpu:a100", 2)))
    assert (record.gpus, record.gpus_by_type) == (2, (("a100", 2),))
    assert record.gpu_seconds_by_type() == {"a100": 20}


def test_typed_only_are_summed():
    record = with_allocated(gres(("gpu:h100", 2), ("gpu:a100", 1)))
    assert (record.gpus, record.gpus_by_type) == (3, (("a100", 1), ("h100", 2)))


def test_partially_tracked_types_leave_an_untyped_rest():
    record = with_allocated(gres(("gpu", 3), ("gpu:a100", 1)))
    assert record.gpu_seconds_by_type() == {"a100": 10, "": 20}


@pytest.mark.parametrize("count", [None, 0, -2])
def test_non_positive_counts_are_ignored(count):
    record = with_allocated(gres(("gpu", count), ("gpu:a100", count)))
    assert (record.gpus, record.gpus_by_type) == (0, ())


def test_gpumem_gpuutil_and_non_gres_are_not_gpus():
    allocated = gres(("gpumem", 81920), ("gpuutil", 100), ("gpu", 1))
    allocated.append({"type": "license", "name": "gpu", "id": 7, "count": 5})
    assert with_allocated(allocated).gpus == 1


def test_cpu_mem_node_from_allocated():
    allocated = [
        {"type": "cpu", "name": "", "id": 1, "count": 16},
        {"type": "mem", "name": "", "id": 2, "count": 64000},
        {"type": "node", "name": "", "id": 4, "count": 2},
        {"type": "energy", "name": "", "id": 3, "count": -2},
        *gres(("gpu", 8)),
    ]
    record = with_allocated(allocated)
    assert (record.alloc_cpus, record.alloc_mem_mb, record.alloc_nodes, record.gpus) == (
        16,
        64000,
        2,
        8,
    )


def test_requested_tres_are_not_used():
    job = job_template(V43, 1)
    job["tres"]["allocated"] = []
    assert job["tres"]["requested"]  # the template asked for GPUs
    assert one_record(job).gpus == 0
