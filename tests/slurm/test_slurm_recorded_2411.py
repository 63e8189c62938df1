"""Real Slurm 24.11.5 replies (``deploy/slurm/rig2411.sh``, cluster enact-2411), through
SlurmRestClient + MockTransport, for every API version 24.11 serves (v0.0.40, v0.0.41, v0.0.42),
and its ``sacct`` output for the fallback. ``tests/data/slurm/INDEX_rig2411.txt`` gives each
exact request and HTTP status.

Expected GPU-seconds are Slurm's own: ``sacct --duplicates --allocations`` AllocTRES
``gres/gpu`` x ElapsedRaw (``slurm-24.11.5_sacct_alloctres_elapsed.psv``), worked out by hand::

    job        account         state       gpus            elapsed  gpu-s
    1 (het 1+0) chair-health   COMPLETED   1 a100             3       3
    2 (het 1+1) chair-health   COMPLETED   1 h100             3       3
    3          chair-nlp       COMPLETED   2 a100             4       8
    4          proj-thesis-01  COMPLETED   1 h100 (--gpus=1)  3       3
    5          chair-health    FAILED      1 h100             3       3
    6          proj-rnd-01     CANCELLED   1 a100            10      10
    8 run 1    chair-health    REQUEUED    1 h100             3       3
    8 run 2    chair-health    COMPLETED   1 h100             8       8
    9          chair-health    COMPLETED   0 (CPU only)       2       0
    10         proj-rnd-01     COMPLETED   1 a100 + 1 h100    3       6   (-N2 --gres=gpu:1)
    11 (het 11+0) chair-nlp    COMPLETED   1 a100             3       3
    12 (het 11+1) chair-nlp    COMPLETED   2 h100             3       6
    13, 15, 7  chair-nlp       COMPLETED   1 a100          3, 2, 2     7   (array 7, tasks 0-2)
    14         chair-nlp       COMPLETED   1 h100            45      45
    16         chair-health    CANCELLED   0 (never started)  0       0
    17, 18     chair-nlp       COMPLETED   1 h100        20, 20      40
    => chair-nlp 8+3+6+7+45+40 = 109 (a100 18, h100 91); chair-health 3+3+3+3+8 = 20
       (a100 3, h100 17); proj-rnd-01 10+6 = 16 (a100 13, h100 3); proj-thesis-01 3 (h100)
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from connectors.slurm.errors import SlurmAuthError, SlurmRejected, SlurmUnavailable
from connectors.slurm.sacct import parse_sacct_file
from tests.slurm.slurm_support import DATA, data, per_account, per_account_type

WINDOW = (1796452700, 1796453100)
SACCT = {"chair-nlp": 109, "chair-health": 20, "proj-rnd-01": 16, "proj-thesis-01": 3}
SACCT_TYPES = {
    ("chair-nlp", "a100"): 18,
    ("chair-nlp", "h100"): 91,
    ("chair-health", "a100"): 3,
    ("chair-health", "h100"): 17,
    ("proj-rnd-01", "a100"): 13,
    ("proj-rnd-01", "h100"): 3,
    ("proj-thesis-01", "h100"): 3,
}
VERSIONS = ("v0.0.40", "v0.0.41", "v0.0.42")
FLAGS = {"skip_steps": "true", "show_duplicates": "true", "disable_truncate_usage_time": "true"}


def answer(name: str, status: int = 200, content_type: str = "application/json"):
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=data(name), headers={"content-type": content_type})

    return handler


@pytest.mark.parametrize("version", VERSIONS)
def test_every_24_11_version_gives_sacct_figures(make_client, version):
    client, recorder, _ = make_client(answer(f"slurm-24.11.5_{version}_jobs.json"), version)
    page = client.jobs(*WINDOW)
    [request] = recorder.requests
    assert request.url.path == f"/slurmdb/{version}/jobs"
    assert dict(request.url.params) == {
        "start_time": f"uts{WINDOW[0]}",
        "end_time": f"uts{WINDOW[1]}",
        **FLAGS,
    }
    assert page.quarantined == [] and page.warnings == []
    assert len(page.records) == 19
    assert per_account(page.records) == SACCT
    assert per_account_type(page.records) == SACCT_TYPES
    assert all(r.final and r.cluster == "enact-2411" for r in page.records)


@pytest.mark.parametrize("version", VERSIONS)
def test_24_11_requeue_array_het_and_two_node_records(make_client, version):
    client, _, _ = make_client(answer(f"slurm-24.11.5_{version}_jobs.json"), version)
    by_job: dict[int, list] = {}
    for record in client.jobs(*WINDOW).records:
        by_job.setdefault(record.job_id, []).append(record)

    runs = sorted(by_job[8], key=lambda r: r.submit)  # requeued: one record per run
    assert [(r.state, r.elapsed, r.gpu_seconds) for r in runs] == [
        ("REQUEUED", 3, 3),
        ("COMPLETED", 8, 8),
    ]
    assert runs[0].submit < runs[1].submit
    if version == "v0.0.42":  # restart_cnt is new in v0.0.42
        assert [r.restart_count for r in runs] == [0, 1]
    else:
        assert [r.restart_count for r in runs] == [None, None]

    tasks = sorted((r.array_task_id, r.job_id) for j in (7, 13, 15) for r in by_job[j])
    assert tasks == [(0, 13), (1, 15), (2, 7)]  # the task started last keeps the array's id
    assert {r.array_job_id for j in (7, 13, 15) for r in by_job[j]} == {7}

    het = [by_job[11][0], by_job[12][0]]
    assert [(r.het_job_id, r.het_offset, r.gpus_by_type) for r in het] == [
        (11, 0, (("a100", 1),)),
        (11, 1, (("h100", 2),)),
    ]
    [two_node] = by_job[10]
    assert (two_node.alloc_nodes, two_node.gpus) == (2, 2)
    assert two_node.gpus_by_type == (("a100", 1), ("h100", 1))
    [failed] = by_job[5]
    assert failed.state == "FAILED" and failed.gpu_seconds == 3
    [cancelled] = by_job[6]
    assert cancelled.state == "CANCELLED" and cancelled.elapsed == 10
    [never] = by_job[16]  # cancelled while pending: no start, nothing allocated
    assert (never.state, never.start, never.gpus, never.gpu_seconds) == ("CANCELLED", None, 0, 0)


def test_24_11_flag_trap_is_real_so_all_three_flags_are_sent(make_client):
    """On 24.11, ``skip_steps`` alone drops the server's show_duplicates default: the
    requeued job's first run is missing (18 records, chair-health 3 GPU-s short). Without any
    flag the defaults hold. The client always sends the three flags together."""
    client, _, _ = make_client(answer("slurm-24.11.5_v0.0.42_jobs_skip_steps_only.json"), "v0.0.42")
    trapped = client.jobs(*WINDOW).records
    assert len(trapped) == 18
    assert [r.state for r in trapped if r.job_id == 8] == ["COMPLETED"]
    assert per_account(trapped)["chair-health"] == SACCT["chair-health"] - 3

    client, _, _ = make_client(answer("slurm-24.11.5_v0.0.42_jobs_no_flags.json"), "v0.0.42")
    assert per_account(client.jobs(*WINDOW).records) == SACCT


@pytest.mark.parametrize("version", ["v0.0.40", "v0.0.42"])
def test_24_11_expired_token_is_an_auth_error_not_an_outage(make_client, version):
    """24.11 answers an expired JWT with HTTP 502 and errors[] 7000 ("..., authentication
    error"): not retried, classified as auth."""
    name = f"slurm-24.11.5_{version}_error_expired_token.json"
    client, recorder, sleeps = make_client(answer(name, 502), version)
    with pytest.raises(SlurmAuthError) as caught:
        client.jobs(*WINDOW)
    assert caught.value.status == 502 and caught.value.error_numbers == (7000,)
    assert "authentication error" in str(caught.value)
    assert len(recorder.requests) == 1 and sleeps == []


def test_24_11_slurmdbd_down_is_transient_and_retried(make_client):
    name = "slurm-24.11.5_v0.0.42_error_slurmdbd_down.json"
    client, recorder, sleeps = make_client(answer(name, 502), "v0.0.42")
    with pytest.raises(SlurmUnavailable) as caught:
        client.jobs(*WINDOW)
    assert not isinstance(caught.value, SlurmRejected)
    assert caught.value.error_numbers == (7000,)
    assert len(recorder.requests) == 3 and len(sleeps) == 2


@pytest.mark.parametrize(
    ("name", "status", "content_type", "version", "says"),
    [
        ("slurm-24.11.5_v0.0.40_error_bare_epoch.json", 422, "application/json", "v0.0.40",
         "Parsing of 1796453100 for timestamp failed"),
        ("slurm-24.11.5_v0.0.42_error_small_uts.json", 422, "application/json", "v0.0.42",
         "Parsing of uts2 for timestamp failed"),
        ("slurm-24.11.5_error_unknown_version_v0.0.39.txt", 404, "text/plain", "v0.0.39",
         "Unable find requested URL"),
    ],
    ids=["bare-epoch-v40", "small-uts", "v0.0.39-gone"],
)  # fmt: skip
def test_24_11_request_errors_are_rejections(
    make_client, name, status, content_type, version, says
):
    client, recorder, _ = make_client(answer(name, status, content_type), version)
    with pytest.raises(SlurmRejected) as caught:
        client.jobs(*WINDOW)
    assert not isinstance(caught.value, SlurmAuthError)
    assert caught.value.status == status and says in str(caught.value)
    assert len(recorder.requests) == 1


def test_24_11_missing_headers_is_an_auth_error(make_client):
    client, _, _ = make_client(answer("slurm-24.11.5_error_no_headers.txt", 401, "text/plain"))
    with pytest.raises(SlurmAuthError, match="Authentication failure"):
        client.jobs(*WINDOW)


def test_24_11_empty_window_is_an_empty_page_with_the_servers_warning(make_client):
    client, _, _ = make_client(answer("slurm-24.11.5_v0.0.42_jobs_empty_window.json"), "v0.0.42")
    page = client.jobs(1000000000, 1000000001)
    assert page.records == [] and page.quarantined == []
    assert len(page.warnings) == 1 and "found nothing" in page.warnings[0]


def test_discovery_on_24_11_picks_v42(make_client):
    client, recorder, _ = make_client(
        answer("slurm-24.11.5_openapi_v3_slurmdb_paths.json"), api_version=None
    )
    assert client.api_version == "v0.0.42"
    assert [r.url.path for r in recorder.requests] == ["/openapi/v3"]


def test_probing_24_11_uses_a_window_it_accepts(make_client):
    """Without /openapi/v3 the client probes versions newest first; 24.11 rejects small
    ``uts`` values with 422, so the probe's empty window must be one it parses."""

    def server(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if not any(f"/{version}/" in path for version in VERSIONS):  # /openapi/v3 too
            return answer("slurm-24.11.5_error_unknown_version_v0.0.39.txt", 404, "text/plain")(
                request
            )
        if int(request.url.params["end_time"].removeprefix("uts")) < 10**9:
            return answer("slurm-24.11.5_v0.0.42_error_small_uts.json", 422)(request)
        return answer("slurm-24.11.5_v0.0.42_jobs_empty_window.json")(request)

    client, recorder, _ = make_client(server, api_version=None)
    assert client.api_version == "v0.0.42"
    assert recorder.requests[-1].url.path == "/slurmdb/v0.0.42/jobs"


@pytest.mark.parametrize("name", ["slurm-24.11.5_sacct.json", "slurm-24.11.5_sacct.psv"])
def test_sacct_fallback_on_24_11_equals_rest(make_client, name):
    """``sacct --json`` of 24.11 (a v0.0.42 document) and ``--parsable2`` give the records
    slurmrestd v0.0.42 gives for the same window: same runs, same GPU-seconds."""
    client, _, _ = make_client(answer("slurm-24.11.5_v0.0.42_jobs.json"), "v0.0.42")
    rest = client.jobs(*WINDOW).records
    decoded = parse_sacct_file(Path(DATA / name), cluster="enact-2411")
    assert decoded.quarantined == []
    assert per_account(decoded.records) == SACCT
    assert per_account_type(decoded.records) == SACCT_TYPES

    def runs(records):
        return {(r.job_id, r.submit): (r.state, r.elapsed, r.gpu_seconds) for r in records}

    assert runs(decoded.records) == runs(rest)


@pytest.mark.parametrize("version", ["v0.0.40", "v0.0.42"])
def test_24_11_running_jobs_are_provisional(make_client, version):
    """Recorded while job 65 (h100:2) and task 0 of array 66 (a100:4, job 67) ran: ``time.end``
    0 and ``time.elapsed`` counted by slurmdbd at query time (17 s and 16 s)."""
    name = f"slurm-24.11.5_{version}_jobs_running.json"
    client, _, _ = make_client(answer(name), version)
    records = {r.job_id: r for r in client.jobs(1796453854, 1796453979).records}
    assert set(records) == {65, 67}
    running, task = records[65], records[67]
    assert all(r.state == "RUNNING" and not r.final and r.end is None for r in (running, task))
    assert (running.elapsed, running.gpus_by_type, running.gpu_seconds) == (17, (("h100", 2),), 34)
    assert (task.array_job_id, task.array_task_id) == (66, 0)
    assert (task.elapsed, task.gpus_by_type, task.gpu_seconds) == (16, (("a100", 4),), 64)
