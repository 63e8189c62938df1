"""Decoding whole replies: quarantine of bad records, the envelope's errors and warnings, API
versions, robustness to any mutation, big replies."""

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
from tests.slurm.decode_support import (
    RIG,
    V38,
    V43,
    decode_reply,
    job_template,
)
from tests.slurm.slurm_support import data, data_json

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
    result = decode_reply(job_template(V43, 1), 42, "text", None)
    assert len(result.records) == 1
    assert [q.job_id for q in result.quarantined] == [None, None, None]


# --- envelope --------------------------------------------------------------------------------


def test_nothing_found_is_an_empty_result():
    result = decode_jobs(data("error_unknown_job.json"))
    assert result == ([], [], [])


def test_v40_warnings_are_returned():
    result = decode_reply(warnings=[{"description": 'Ignoring unknown field "foo"', "source": "x"}])
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
    job = job_template(*base)
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
    result = decode_reply(job, job_template(V43, 1))
    assert len(result.records) + len(result.quarantined) == 2
    for record in result.records:
        assert record.gpus >= 0
        assert record.elapsed >= 0
        assert record.start is None or 0 < record.start < 4294967294
        assert record.end is None or 0 < record.end < 4294967294
        assert record.gpu_seconds >= 0


# --- big replies -----------------------------------------------------------------------------


def _big_reply(n: int = 1500) -> bytes:
    template = job_template(V43, 1)
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
