"""sacct fallback: --parsable2 text and --json, same records as slurmrestd for the rig jobs.

The rig captures (22.05.8, cluster enact-local) were taken at 07:06:38 UTC with job 12
RUNNING and job 8 PENDING; ``sacct_fields.psv`` / ``sacct_all.psv`` show job 12 at
ElapsedRaw 90, ``sacct.json`` at 89. GPU-seconds by hand (AllocTRES gres/gpu x ElapsedRaw)::

    chair-nlp       1: 1x6  6: 1x6  10: 2x5 (h100)  11: 1x3  13: 1x4  14: 1x5  12: 1x90
                    => a100 6+6+3+4+5+90 = 114, h100 10, total 124 (123 with 89 s)
    chair-health    2: 2x8 (h100)  5: 1x3 (h100)  8: pending, nothing allocated => 19
    proj-thesis-01  3: 2x3 (a100)  4: 1x2 (h100)  7: 1x79 (a100)  9: CPU only => 87
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from connectors.slurm.decode import decode_jobs
from connectors.slurm.errors import SlurmPayloadError, SlurmUnavailable
from connectors.slurm.sacct import (
    SACCT_FIELDS,
    parse_psv,
    parse_sacct_file,
    parse_tres,
    run_sacct,
    sacct_command,
)
from tests.slurm.slurm_support import DATA, data, per_account, per_account_type

PSV_TOTALS = {"chair-nlp": 124, "chair-health": 19, "proj-thesis-01": 87}
PSV_TYPES = {
    ("chair-nlp", "a100"): 114,
    ("chair-nlp", "h100"): 10,
    ("chair-health", "h100"): 19,
    ("proj-thesis-01", "a100"): 85,
    ("proj-thesis-01", "h100"): 2,
}


def _key(record: Any) -> tuple[str, int, int]:
    return (record.cluster, record.job_id, record.submit)


@pytest.mark.parametrize("name", ["sacct_fields.psv", "sacct_all.psv"])
def test_psv_files(name):
    result = parse_sacct_file(DATA / name)
    assert result.quarantined == []
    assert sorted(r.job_id for r in result.records) == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        11,
        12,
        13,
        14,
    ]
    assert per_account(result.records) == PSV_TOTALS
    assert per_account_type(result.records) == PSV_TYPES


def test_json_file_is_the_v38_document():
    result = parse_sacct_file(DATA / "sacct.json")
    assert result.quarantined == []
    assert len(result.records) == 14
    assert per_account(result.records) == {
        "chair-nlp": 123,
        "chair-health": 19,
        "proj-thesis-01": 87,
    }


def test_psv_record_details():
    records = {r.job_id: r for r in parse_sacct_file(DATA / "sacct_fields.psv").records}
    five = records[5]
    assert (five.state, five.user, five.account, five.partition, five.qos) == (
        "CANCELLED",  # "CANCELLED by 1003"
        "bob",
        "chair-health",
        "gpu-h100",
        "normal",
    )
    assert (five.submit, five.start, five.end, five.elapsed) == (
        1795244710,
        1795244710,
        1795244713,
        3,
    )
    assert (five.alloc_cpus, five.alloc_mem_mb, five.alloc_nodes) == (1, 256, 1)
    assert (records[8].state, records[8].start, records[8].end, records[8].gpus) == (
        "PENDING",
        None,
        None,
        0,
    )
    assert (records[12].state, records[12].end, records[12].elapsed) == ("RUNNING", None, 90)
    assert {j: (r.array_job_id, r.array_task_id) for j, r in records.items() if r.array_job_id} == {
        11: (6, 0),
        13: (6, 1),
        14: (6, 2),
        6: (6, 3),
    }
    assert records[10].gpus_by_type == (("h100", 2),)  # untyped request, typed allocation


def test_psv_matches_the_rest_reply_for_the_same_jobs():
    rest = {_key(r): r for r in decode_jobs(data("slurmdb_v0.0.38_jobs_window_uts.json")).records}
    psv = {_key(r): r for r in parse_sacct_file(DATA / "sacct_fields.psv").records}
    assert psv.keys() == rest.keys()
    for key, record in psv.items():
        if record.job_id == 12:  # running: captured at different moments
            assert record.state == rest[key].state == "RUNNING"
            assert (record.start, record.end) == (rest[key].start, rest[key].end)
            assert (record.elapsed, rest[key].elapsed) == (90, 80)
            continue
        assert record == rest[key]
        assert record.gpu_seconds == rest[key].gpu_seconds


def test_json_matches_the_rest_reply():
    rest = {_key(r): r for r in decode_jobs(data("slurmdb_v0.0.38_jobs_window_uts.json")).records}
    json_records = {_key(r): r for r in parse_sacct_file(DATA / "sacct.json").records}
    assert json_records.keys() == rest.keys()
    for key, record in json_records.items():
        if record.job_id != 12:
            assert record == rest[key]


def _project(text: str, fields: tuple[str, ...]) -> str:
    lines = text.splitlines()
    header = lines[0].split("|")
    index = [header.index(name) for name in fields]
    out = []
    for line in lines[1:]:
        values = line.split("|")
        out.append("|".join(values[i] for i in index))
    return "\n".join(out) + "\n"


def test_noheader_output_with_the_field_list():
    text = _project(data("sacct_all.psv").decode(), SACCT_FIELDS)
    assert not text.startswith("JobID")
    result = parse_psv(text)
    assert result.quarantined == []
    assert per_account(result.records) == PSV_TOTALS
    with_header = parse_sacct_file(DATA / "sacct_fields.psv").records
    assert sorted(result.records, key=_key) == sorted(with_header, key=_key)


HEADER = (
    "JobID|JobIDRaw|Cluster|Account|User|Partition|QOS|State|Submit|Eligible|Start|End"
    "|ElapsedRaw|AllocTRES"
)


def _line(**over: str) -> str:
    row = {
        "JobID": "7",
        "JobIDRaw": "7",
        "Cluster": "c1",
        "Account": "a",
        "User": "u",
        "Partition": "p",
        "QOS": "normal",
        "State": "COMPLETED",
        "Submit": "2026-11-21T07:00:00",
        "Eligible": "2026-11-21T07:00:00",
        "Start": "2026-11-21T07:00:10",
        "End": "2026-11-21T07:01:10",
        "ElapsedRaw": "60",
        "AllocTRES": "cpu=4,gres/gpu=2,mem=8G,node=1",
    }
    row.update(over)
    return "|".join(row[name] for name in HEADER.split("|"))


def test_het_components_and_array_meta_record():
    text = "\n".join(
        [
            HEADER,
            _line(JobID="7+0", JobIDRaw="7"),
            _line(JobID="7+1", JobIDRaw="8", AllocTRES="cpu=1,mem=1G,node=1"),
            _line(
                JobID="9_[4-9%2]",
                JobIDRaw="9",
                State="PENDING",
                Start="Unknown",
                End="Unknown",
                ElapsedRaw="0",
                AllocTRES="",
            ),
            _line(JobID="7+0.batch", JobIDRaw="7.batch"),
        ]
    )
    het0, het1, meta = parse_psv(text).records
    assert (het0.job_id, het0.het_job_id, het0.het_offset, het0.gpus) == (7, 7, 0, 2)
    assert (het1.job_id, het1.het_job_id, het1.het_offset, het1.gpus) == (8, 7, 1, 0)
    assert (meta.array_job_id, meta.array_task_id, meta.start, meta.gpu_seconds) == (
        9,
        None,
        None,
        0,
    )


def test_times_are_utc_or_epoch():
    (iso,) = parse_psv(HEADER + "\n" + _line()).records
    (epoch,) = parse_psv(
        HEADER + "\n" + _line(Submit="1795244400", Start="1795244410", End="1795244470")
    ).records
    assert (iso.submit, iso.start, iso.end) == (1795244400, 1795244410, 1795244470)
    assert iso == epoch


def test_bad_lines_are_quarantined():
    text = "\n".join(
        [
            HEADER,
            _line(JobIDRaw="11"),
            _line(JobIDRaw="12", Start="21/11/2026"),
            _line(JobIDRaw="13", ElapsedRaw="1:00"),
            _line(JobIDRaw="14") + "|extra",
            _line(JobIDRaw="abc"),
            _line(JobIDRaw="15", Submit="Unknown"),
            _line(JobIDRaw="16", AllocTRES="mem=lots"),
        ]
    )
    result = parse_psv(text)
    assert [r.job_id for r in result.records] == [11]
    assert [q.job_id for q in result.quarantined] == [12, 13, 14, None, 15, 16]
    assert "Start" in result.quarantined[0].reason
    assert "ElapsedRaw" in result.quarantined[1].reason
    assert "columns" in result.quarantined[2].reason


def test_missing_columns_and_cluster():
    with pytest.raises(SlurmPayloadError, match="AllocTRES"):
        parse_psv("JobID|JobIDRaw|State\n1|1|COMPLETED\n")
    no_cluster = "|".join(f for f in HEADER.split("|") if f != "Cluster")
    line = "|".join(
        v for f, v in zip(HEADER.split("|"), _line().split("|"), strict=True) if f != "Cluster"
    )
    with pytest.raises(SlurmPayloadError, match="cluster"):
        parse_psv(no_cluster + "\n" + line)
    (record,) = parse_psv(no_cluster + "\n" + line, cluster="enact-local").records
    assert record.cluster == "enact-local"


@pytest.mark.parametrize(
    ("tres", "expected"),
    [
        (
            "billing=2,cpu=2,gres/gpu:h100=2,gres/gpu=2,mem=512M,node=1",
            (2, (("h100", 2),), 2, 512, 1),
        ),
        ("cpu=1,gres/gpu=2,mem=256M,node=1", (2, (), 1, 256, 1)),
        ("gres/gpu:a100=1,gres/gpu:h100=2", (3, (("a100", 1), ("h100", 2)), 0, 0, 0)),
        ("gres/gpu=4,gres/gpumem=80G,gres/gpuutil=90,node=2", (4, (), 0, 0, 2)),
        ("mem=10356K", (0, (), 0, 10, 0)),
        ("mem=1.5G", (0, (), 0, 1536, 0)),
        ("mem=2T", (0, (), 0, 2 * 1024 * 1024, 0)),
        ("mem=4000", (0, (), 0, 4000, 0)),
        ("gres/gpu=0,energy=-2,fs/disk=58428", (0, (), 0, 0, 0)),
        ("", (0, (), 0, 0, 0)),
    ],
)
def test_parse_tres(tres, expected):
    assert parse_tres(tres) == expected


# --- running sacct ---------------------------------------------------------------------------


class FakeRunner:
    def __init__(self, stdout: str = "", returncode: int = 0, raises: Exception | None = None):
        self.stdout, self.returncode, self.raises = stdout, returncode, raises
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((argv, kwargs))
        if self.raises:
            raise self.raises
        return subprocess.CompletedProcess(argv, self.returncode, self.stdout, "sacct: error: boom")


def test_run_sacct_psv():
    runner = FakeRunner(_project(data("sacct_all.psv").decode(), SACCT_FIELDS))
    result = run_sacct(1795244400, 1795248000, runner=runner)
    assert per_account(result.records) == PSV_TOTALS
    ((argv, kwargs),) = runner.calls
    assert argv == [
        "sacct",
        "--allusers",
        "--duplicates",
        "--allocations",
        "-S",
        "2026-11-21T07:00:00",
        "-E",
        "2026-11-21T08:00:00",
        "--parsable2",
        "--noheader",
        "-o",
        ",".join(SACCT_FIELDS),
    ]
    assert kwargs["env"]["TZ"] == "UTC"
    assert kwargs["env"]["SLURM_TIME_FORMAT"] == "standard"
    assert kwargs["check"] is False and kwargs["text"] is True


def test_run_sacct_json():
    runner = FakeRunner(data("sacct.json").decode())
    result = run_sacct(1795244400, 1795248000, fmt="json", clusters=["enact-local"], runner=runner)
    assert per_account(result.records) == {
        "chair-nlp": 123,
        "chair-health": 19,
        "proj-thesis-01": 87,
    }
    argv = runner.calls[0][0]
    assert argv[-3:] == ["--clusters", "enact-local", "--json"]


@pytest.mark.parametrize(
    "runner",
    [
        FakeRunner(returncode=1),
        FakeRunner(raises=FileNotFoundError("sacct")),
        FakeRunner(raises=subprocess.TimeoutExpired("sacct", 600)),
    ],
)
def test_run_sacct_failures_are_unavailable(runner):
    with pytest.raises(SlurmUnavailable):
        run_sacct(1, 2, runner=runner)


def test_sacct_command_rejects_unknown_format():
    with pytest.raises(ValueError, match="fmt"):
        sacct_command(1, 2, fmt="xml")
