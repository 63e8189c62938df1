"""Every recorded slurmdb ``jobs`` / ``job/{id}`` reply, through SlurmRestClient + MockTransport.

Expected GPU-seconds are written literally and were worked out by hand from the JSON
(``tres.allocated`` gres ``gpu`` count x ``time.elapsed``, zero when ``time.start`` is 0 or a
sentinel), not with the code under test. Tables: job -> account, state, gpus (type), elapsed.

Rig (cluster enact-local, 22.05.8), hour-07 reply recorded after all jobs were final::

    job account         state      gpus      elapsed  gpu-s
    1   chair-nlp       COMPLETED  1 a100      6        6
    2   chair-health    COMPLETED  2 h100      8       16
    3   proj-thesis-01  FAILED     2 a100      3        6
    4   proj-thesis-01  FAILED     1 h100      2        2
    5   chair-health    CANCELLED  1 h100      3        3
    6   chair-nlp       COMPLETED  1 a100      6        6   (array 6 task 3)
    7   proj-thesis-01  TIMEOUT    1 a100     79       79
    9   proj-thesis-01  COMPLETED  0           4        0   (CPU only)
    10  chair-nlp       COMPLETED  2 h100      5       10   (untyped --gpus=2, landed on h100)
    11  chair-nlp       COMPLETED  1 a100      3        3   (array 6 task 0)
    12  chair-nlp       CANCELLED  1 a100     94       94   (RUNNING in the earlier captures)
    13  chair-nlp       COMPLETED  1 a100      4        4   (array 6 task 1)
    14  chair-nlp       COMPLETED  1 a100      5        5   (array 6 task 2)
    => chair-nlp 6+6+10+3+94+4+5 = 128 (a100 118, h100 10); chair-health 16+3 = 19 (h100);
       proj-thesis-01 6+2+79 = 87 (a100 85, h100 2)  == sreport's direct usage 128 / 19 / 87.

The earlier rig captures are the same jobs with job 12 RUNNING (elapsed as captured) and,
in the windowed ones, job 8 PENDING (start 0, allocated [] -> 0). chair-nlp without job 12
is 128 - 94 = 34 (a100 24, h100 10).

Lab ``lab`` (22.05.8, v0.0.38), every GPU a100::

    gpuacct: 6 REQUEUED 1x10=10, 1 2x20=40, 2 1x15=15, 5 1x10=10, 6 1x40=40, 7 (het 7+0) 1x5=5,
             8 (het 7+1) 0, 9 0, 10 1x85=85, 11 1x6=6, 12 2x8=16, 15 RUNNING 2x746=1492,
             20 (2 nodes) 4x5=20                                              => 1739
    cpuacct: 3 0, 4 (array 4 task 2) 1x10=10, 13 (task 0) 10, 14 (task 1) 10, 17 0,
             19 (array 18 task 0) 1x5=5                                       => 35

Lab ``lab25`` (25.05.9pre) v0.0.40 = v0.0.41 = v0.0.42 = v0.0.43, every GPU a100::

    gpuacct: 20 [PENDING,REQUEUED] 1x18=18, 6/5 NODE_FAIL 1x0, 1 2x20=40, 2 1x17=17,
             5 1x48=48, 6 1x40=40, 7 1x5=5, 8 0, 9 0, 10 1x85=85, 11 1x6=6, 12 2x9=18,
             13 RUNNING 2x477=954, 19 1x18=18, 20 1x40=40, 25 (2 nodes, FAILED) 4x0=0  => 1289
    cpuacct: 17/4 NODE_FAIL 0, 3 0, 4 1x10=10, 15 0, 16 1x10=10, 17 1x10=10, 18 1x10=10,
             21 1x11=11, 22 1x11=11, 24 1x8=8                                 => 70
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.slurm.slurm_support import data, per_account, per_account_type

RIG_H07 = {"chair-nlp": 128, "chair-health": 19, "proj-thesis-01": 87}
RIG_H07_TYPES = {
    ("chair-nlp", "a100"): 118,
    ("chair-nlp", "h100"): 10,
    ("chair-health", "h100"): 19,
    ("proj-thesis-01", "a100"): 85,
    ("proj-thesis-01", "h100"): 2,
}


def _rig(job12: int, *, health: bool = True, thesis: bool = True) -> tuple[dict, dict]:
    """Rig totals when job 12 (chair-nlp, 1 a100) shows ``job12`` elapsed seconds."""
    accounts: dict[str, int] = {"chair-nlp": 34 + job12}
    types: dict[tuple[str, str], int] = {
        ("chair-nlp", "a100"): 24 + job12,
        ("chair-nlp", "h100"): 10,
    }
    if health:
        accounts["chair-health"] = 19
        types[("chair-health", "h100")] = 19
    if thesis:
        accounts["proj-thesis-01"] = 87
        types[("proj-thesis-01", "a100")] = 85
        types[("proj-thesis-01", "h100")] = 2
    return accounts, types


LAB25 = ({"gpuacct": 1289, "cpuacct": 70}, {("gpuacct", "a100"): 1289, ("cpuacct", "a100"): 70})

# file, api version, call, records, GPU-s per account, GPU-s per (account, type)
CASES: list[tuple[str, str, tuple[Any, ...], int, dict, dict]] = [
    # --- rig (enact-local), v0.0.38 -------------------------------------------------------
    ("slurmdb_v0.0.38_jobs_hour07_final.json", "v0.0.38", ("jobs",), 13, RIG_H07, RIG_H07_TYPES),
    ("slurmdb_v0.0.38_jobs.json", "v0.0.38", ("jobs",), 13, *_rig(80)),
    ("slurmdb_v0.0.38_jobs_as_alice.json", "v0.0.38", ("jobs",), 13, *_rig(83)),
    ("slurmdb_v0.0.38_jobs_skip_steps.json", "v0.0.38", ("jobs",), 13, *_rig(82)),
    # the windowed captures also hold job 8 (PENDING, chair-health): 14 records, same usage
    ("slurmdb_v0.0.38_jobs_window_uts.json", "v0.0.38", ("jobs",), 14, *_rig(80)),
    ("slurmdb_v0.0.38_jobs_window_iso.json", "v0.0.38", ("jobs",), 14, *_rig(80)),
    ("slurmdb_v0.0.38_jobs_window_relative.json", "v0.0.38", ("jobs",), 14, *_rig(81)),
    # account=chair-nlp,proj-thesis-01: jobs 1,3,4,6,7,9,10,11,12,13,14
    (
        "slurmdb_v0.0.38_jobs_accounts_nlp_thesis.json",
        "v0.0.38",
        ("jobs",),
        11,
        *_rig(81, health=False),
    ),
    # partition=gpu-h100: jobs 2 (2x8), 4 (1x2), 5 (1x3), 10 (2x5)
    (
        "slurmdb_v0.0.38_jobs_partition_gpu-h100.json",
        "v0.0.38",
        ("jobs",),
        4,
        {"chair-health": 19, "proj-thesis-01": 2, "chair-nlp": 10},
        {("chair-health", "h100"): 19, ("proj-thesis-01", "h100"): 2, ("chair-nlp", "h100"): 10},
    ),
    # state=FAILED,TIMEOUT: jobs 3 (2x3 a100), 4 (1x2 h100), 7 (1x79 a100)
    (
        "slurmdb_v0.0.38_jobs_state_failed_timeout.json",
        "v0.0.38",
        ("jobs",),
        3,
        {"proj-thesis-01": 87},
        {("proj-thesis-01", "a100"): 85, ("proj-thesis-01", "h100"): 2},
    ),
    # v0.0.37: same records; its time.start is the eligible time (old parser), elapsed is right
    ("slurmdb_v0.0.37_jobs.json", "v0.0.37", ("jobs",), 13, *_rig(86)),
    # job/{id} spot checks
    (
        "slurmdb_v0.0.38_job_12_running.json",
        "v0.0.38",
        ("job", 12),
        1,
        {"chair-nlp": 85},
        {("chair-nlp", "a100"): 85},
    ),
    (
        "slurmdb_v0.0.38_job_2.json",
        "v0.0.38",
        ("job", 2),
        1,
        {"chair-health": 16},
        {("chair-health", "h100"): 16},
    ),
    (
        "slurmdb_v0.0.38_job_3_failed_exit3.json",
        "v0.0.38",
        ("job", 3),
        1,
        {"proj-thesis-01": 6},
        {("proj-thesis-01", "a100"): 6},
    ),
    # job/6 = the whole array: 6 (task 3) 6 + 11 (task 0) 3 + 13 (task 1) 4 + 14 (task 2) 5
    (
        "slurmdb_v0.0.38_job_6_array.json",
        "v0.0.38",
        ("job", 6),
        4,
        {"chair-nlp": 18},
        {("chair-nlp", "a100"): 18},
    ),
    (
        "slurmdb_v0.0.38_job_6_1_array_task.json",
        "v0.0.38",
        ("job", "6_1"),
        1,
        {"chair-nlp": 4},
        {("chair-nlp", "a100"): 4},
    ),
    ("slurmdb_v0.0.38_job_8_pending.json", "v0.0.38", ("job", 8), 1, {"chair-health": 0}, {}),
    # --- lab clusters -------------------------------------------------------------------------
    (
        "slurm-22.05.8_v0.0.38_jobs.json",
        "v0.0.38",
        ("jobs",),
        19,
        {"gpuacct": 1739, "cpuacct": 35},
        {("gpuacct", "a100"): 1739, ("cpuacct", "a100"): 35},
    ),
    ("slurm-25.05.9pre_v0.0.40_jobs.json", "v0.0.40", ("jobs",), 28, *LAB25),
    ("slurm-25.05.9pre_v0.0.41_jobs.json", "v0.0.41", ("jobs",), 28, *LAB25),
    ("slurm-25.05.9pre_v0.0.42_jobs.json", "v0.0.42", ("jobs",), 28, *LAB25),
    ("slurm-25.05.9pre_v0.0.43_jobs.json", "v0.0.43", ("jobs",), 28, *LAB25),
    # job/23: the array meta record (start 4294967294, nothing allocated) + task 24 (1x8)
    (
        "slurm-25.05.9pre_v0.0.43_job_23_array_meta_record.json",
        "v0.0.43",
        ("job", 23),
        2,
        {"cpuacct": 8},
        {("cpuacct", "a100"): 8},
    ),
    # Recorded *with* the flag trap (skip_steps alone, window 1795244703..706): duplicates
    # hidden, times clipped. 10 (1x3) 11 (1x1) 12 (2x3) 13 (2x3) | 21 (1x3) 22 (1x3); the
    # rest clipped to 0. The client never sends this query; the reply must still decode.
    (
        "slurm-25.05.9pre_v0.0.43_jobs_truncated_skip_steps.json",
        "v0.0.43",
        ("jobs",),
        10,
        {"gpuacct": 16, "cpuacct": 6},
        {("gpuacct", "a100"): 16, ("cpuacct", "a100"): 6},
    ),
]


@pytest.mark.parametrize(
    ("name", "version", "call", "count", "accounts", "types"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_recorded_reply_gives_expected_gpu_seconds(
    make_client, name, version, call, count, accounts, types
):
    body = data(name)
    expected_path = (
        f"/slurmdb/{version}/jobs" if call[0] == "jobs" else f"/slurmdb/{version}/job/{call[1]}"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == expected_path
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    client, recorder, _ = make_client(handler, api_version=version)
    page = client.jobs(1795200000, 1795300000) if call[0] == "jobs" else client.job(call[1])

    assert page.api_version == version
    assert page.quarantined == []
    assert len(page.records) == count
    assert per_account(page.records) == accounts
    assert per_account_type(page.records) == types
    assert len(recorder.requests) == 1
    # every record is keyed uniquely, duplicates (requeues) included
    keys = {(r.cluster, r.job_id, r.submit) for r in page.records}
    assert len(keys) == count


def test_hour07_matches_the_sreport_statement():
    """The recorded sreport statement's direct (Login) usage equals our per-account totals."""
    statement: dict[str, int] = {}
    for line in data("sreport_gpu_seconds_hour07.psv").decode().splitlines():
        parts = line.split("|")
        if len(parts) == 6 and parts[4] == "gres/gpu" and parts[2]:
            statement[parts[1]] = statement.get(parts[1], 0) + int(parts[5])
    assert statement == RIG_H07


def test_lab_versions_agree_record_by_record(make_client):
    """v0.0.40 .. v0.0.43 of the same cluster normalise to the same records but restart_cnt."""
    seen = {}
    for version in ("v0.0.40", "v0.0.41", "v0.0.42", "v0.0.43"):
        body = data(f"slurm-25.05.9pre_{version}_jobs.json")
        client, _, _ = make_client(lambda _r, b=body: httpx.Response(200, content=b), version)
        records = client.jobs(1795200000, 1795300000).records
        seen[version] = sorted(
            (r.cluster, r.job_id, r.submit, r.state, r.start, r.end, r.elapsed, r.gpus)
            for r in records
        )
        restart = {r.restart_count for r in records}
        assert restart == ({None} if version < "v0.0.42" else {0, 1})
    assert seen["v0.0.40"] == seen["v0.0.41"] == seen["v0.0.42"] == seen["v0.0.43"]


def test_a_slurmctld_reply_is_quarantined_not_decoded(make_client):
    """/slurm/v0.0.38/job/12 (live slurmctld view, flat fields) is not an accounting reply."""
    body = data("slurm_v0.0.38_job_12_running.json")
    client, _, _ = make_client(lambda _r: httpx.Response(200, content=body))
    page = client.job(12)
    assert page.records == []
    assert [q.job_id for q in page.quarantined] == [12]
    assert "time" in page.quarantined[0].reason
