"""SlurmRestClient over httpx.MockTransport: requests, versions, errors, retries, secrecy."""

from __future__ import annotations

import json
import logging
import traceback

import httpx
import pytest

from connectors.slurm.auth import EnvToken, FileToken
from connectors.slurm.client import SUPPORTED_VERSIONS, SlurmRestClient
from connectors.slurm.errors import (
    SlurmAuthError,
    SlurmError,
    SlurmPayloadError,
    SlurmRejected,
    SlurmUnavailable,
)
from tests.slurm.slurm_support import SECRET_TOKEN, data, data_json, reply

EMPTY = {"errors": [], "warnings": [], "jobs": []}


def _ok(_request: httpx.Request) -> httpx.Response:
    return reply(EMPTY)


def _text(status: int, name: str):
    body = data(name)
    return lambda _r: httpx.Response(status, content=body, headers={"content-type": "text/plain"})


def _json_file(status: int, name: str):
    body = data(name)
    return lambda _r: httpx.Response(
        status, content=body, headers={"content-type": "application/json"}
    )


def _assert_secret_absent(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    assert SECRET_TOKEN not in str(exc)
    assert SECRET_TOKEN not in repr(exc)
    assert SECRET_TOKEN not in "".join(traceback.format_exception(exc))
    if isinstance(exc, SlurmError):
        assert all(SECRET_TOKEN not in str(item) for item in exc.errors)
    assert SECRET_TOKEN not in caplog.text


# --- the request ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.39"])
def test_window_query_v38_v39(make_client, version):
    client, recorder, _ = make_client(_ok, api_version=version)
    page = client.jobs(1795244400, 1795248000)
    (request,) = recorder.requests
    assert request.method == "GET"
    assert request.url.path == f"/slurmdb/{version}/jobs"
    assert request.url.query == b"start_time=uts1795244400&end_time=uts1795248000&skip_steps=true"
    assert page.records == [] and page.api_version == version


@pytest.mark.parametrize("version", [v for v in SUPPORTED_VERSIONS if v >= "v0.0.40"])
def test_window_query_v40_plus_sends_all_three_flags(make_client, version):
    """The flags trap: skip_steps alone would hide requeued runs and clip times."""
    client, recorder, _ = make_client(_ok, api_version=version)
    client.jobs(1795244400, 1795248000)
    (request,) = recorder.requests
    assert request.url.path == f"/slurmdb/{version}/jobs"
    assert dict(request.url.params) == {
        "start_time": "uts1795244400",
        "end_time": "uts1795248000",
        "skip_steps": "true",
        "show_duplicates": "true",
        "disable_truncate_usage_time": "true",
    }


def test_auth_headers_on_every_request(make_client):
    responses = iter([reply(data_json("openapi_v3_paths.json")), reply(EMPTY), reply(EMPTY)])
    client, recorder, _ = make_client(lambda _r: next(responses), api_version=None)
    client.jobs(1, 2)
    client.job(5)
    assert [r.url.path for r in recorder.requests] == [
        "/openapi/v3",
        "/slurmdb/v0.0.38/jobs",
        "/slurmdb/v0.0.38/job/5",
    ]
    for request in recorder.requests:
        assert request.headers["X-SLURM-USER-NAME"] == "gpuhours"
        assert request.headers["X-SLURM-USER-TOKEN"] == SECRET_TOKEN


def test_token_is_asked_for_each_request(make_client, tmp_path):
    token_file = tmp_path / "jwt"
    token_file.write_text("SLURM_JWT=first\n")
    client, recorder, _ = make_client(_ok, token_provider=FileToken(token_file))
    client.jobs(1, 2)
    token_file.write_text("SLURM_JWT=second-and-longer\n")
    client.jobs(1, 2)
    assert [r.headers["X-SLURM-USER-TOKEN"] for r in recorder.requests] == [
        "first",
        "second-and-longer",
    ]


@pytest.mark.parametrize(("start", "end"), [(10, 10), (20, 10), (-1, 5)])
def test_empty_window_is_refused(make_client, start, end):
    client, recorder, _ = make_client(_ok)
    with pytest.raises(ValueError, match="window"):
        client.jobs(start, end)
    assert recorder.requests == []


def test_job_ids(make_client):
    client, recorder, _ = make_client(_ok)
    client.job("6_1")
    assert recorder.requests[0].url.path == "/slurmdb/v0.0.38/job/6_1"
    with pytest.raises(ValueError, match="not a Slurm job id"):
        client.job("6; rm -rf")


def test_unsupported_version_is_refused():
    with pytest.raises(ValueError, match="unsupported"):
        SlurmRestClient("http://x", "u", EnvToken(environ={}), api_version="v0.0.36")


# --- version discovery -------------------------------------------------------------------------


def test_discovery_from_the_rig_openapi_picks_v38(make_client):
    client, recorder, _ = make_client(
        lambda _r: reply(data_json("openapi_v3_paths.json")), api_version=None
    )
    assert client.api_version == "v0.0.38"
    assert client.api_version == "v0.0.38"  # cached
    assert len(recorder.requests) == 1


def test_discovery_trailing_slash_paths_v40(make_client):
    client, _, _ = make_client(
        lambda _r: reply(data_json("openapi_spec_v40_paths.json")), api_version=None
    )
    assert client.discover_version() == "v0.0.40"


def test_discovery_picks_the_newest_supported(make_client):
    paths = {f"/slurmdb/v0.0.{n}/jobs/": {} for n in (40, 41, 42, 43)}
    paths |= {"/slurmdb/v0.0.47/jobs/": {}, "/slurm/v0.0.44/jobs/": {}}  # unknown / not slurmdb
    client, _, _ = make_client(lambda _r: reply({"paths": paths}), api_version=None)
    assert client.api_version == "v0.0.43"


def test_discovery_without_a_supported_version(make_client):
    paths = {"/slurmdb/v0.0.36/jobs": {}, "/slurmdb/v0.0.37/jobs": {}}
    client, _, _ = make_client(lambda _r: reply({"paths": paths}), api_version=None)
    with pytest.raises(SlurmRejected, match="no supported"):
        client.jobs(1, 2)


def test_discovery_falls_back_to_probing(make_client):
    not_loaded = data("error_unknown_version.txt")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/slurmdb/v0.0.41/jobs":
            assert request.url.params["show_duplicates"] == "true"
            return _json_file(200, "error_state_without_end_time.json")(request)  # 9003
        return httpx.Response(404, content=not_loaded, headers={"content-type": "text/plain"})

    client, recorder, sleeps = make_client(handler, api_version=None)
    assert client.api_version == "v0.0.41"
    assert [r.url.path for r in recorder.requests] == [
        "/openapi/v3",
        "/slurmdb/v0.0.46/jobs",
        "/slurmdb/v0.0.45/jobs",
        "/slurmdb/v0.0.44/jobs",
        "/slurmdb/v0.0.43/jobs",
        "/slurmdb/v0.0.42/jobs",
        "/slurmdb/v0.0.41/jobs",
    ]
    assert sleeps == []


def test_discovery_auth_failure_is_not_masked(make_client):
    client, _, _ = make_client(_text(401, "error_no_token.txt"), api_version=None)
    with pytest.raises(SlurmAuthError):
        client.jobs(1, 2)


# --- recorded error replies --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "error", "status"),
    [
        (_json_file(200, "error_bad_token_slurmdb_jobs.json"), SlurmAuthError, 200),
        (_json_file(200, "error_token_user_mismatch.json"), SlurmAuthError, 200),
        (_json_file(500, "error_bad_token_slurmdb_associations.json"), SlurmAuthError, 500),
        (_text(401, "error_no_token.txt"), SlurmAuthError, 401),
        (_text(401, "error_no_headers.txt"), SlurmAuthError, 401),
        (_text(404, "error_unknown_version.txt"), SlurmRejected, 404),
        (_text(400, "error_unencoded_colon.txt"), SlurmRejected, 400),
        (_json_file(500, "error_bad_time_epoch.json"), SlurmRejected, 500),
        (_json_file(500, "error_unknown_query_field_users.json"), SlurmRejected, 500),
    ],
    ids=[
        "200+1007-bad-token",
        "200+1007-user-mismatch",
        "500+1007",
        "401-no-token",
        "401-no-headers",
        "404-unknown-version",
        "400-unencoded-colon",
        "500+9000-bad-time",
        "500+9000-unknown-field",
    ],
)
def test_recorded_errors_are_classified_and_not_retried(
    make_client, caplog, handler, error, status
):
    client, recorder, sleeps = make_client(handler)
    with pytest.raises(error) as info:
        client.jobs(1795200000, 1795300000)
    exc = info.value
    assert not isinstance(exc, SlurmUnavailable)
    if error is SlurmRejected:
        assert not isinstance(exc, SlurmAuthError)
    assert exc.status == status
    assert len(recorder.requests) == 1
    assert sleeps == []
    _assert_secret_absent(exc, caplog)


def test_unknown_version_text_is_in_the_message(make_client):
    client, _, _ = make_client(_text(404, "error_unknown_version.txt"))
    with pytest.raises(SlurmRejected, match="Unable find requested URL") as info:
        client.jobs(1, 2)
    assert info.value.status == 404


@pytest.mark.parametrize("name", ["error_state_without_end_time.json", "error_unknown_job.json"])
def test_nothing_found_is_an_empty_page(make_client, name):
    client, _, _ = make_client(_json_file(200, name))
    page = client.job(999999)
    assert (page.records, page.quarantined, page.warnings) == ([], [], [])


def test_http_204_is_an_empty_page(make_client):
    client, _, _ = make_client(lambda _r: httpx.Response(204))
    assert client.jobs(1, 2).records == []


@pytest.mark.parametrize(
    "handler",
    [
        _json_file(500, "error_bad_token_slurm_jobs.json"),  # 500 + -1 "Unspecified error"
        _json_file(500, "error_expired_token_slurm_jobs.json"),
        lambda _r: httpx.Response(500, content=b""),
        lambda _r: httpx.Response(502, content=b"<html>Bad Gateway</html>"),
        lambda _r: httpx.Response(503, content=b"busy"),
        # v0.0.39+ answer a DB outage (and a bad token) this way
        lambda _r: reply({"errors": [{"error_number": 7000, "error": "Unable to connect"}]}, 500),
        lambda _r: reply({"errors": [{"error_number": 7000, "error": "Unable to connect"}]}),
    ],
    ids=["500-1", "500-1-expired", "500-empty", "502", "503", "500+7000", "200+7000"],
)
def test_server_errors_are_retried_then_unavailable(make_client, caplog, handler):
    client, recorder, sleeps = make_client(handler, attempts=4, backoff=0.5)
    with pytest.raises(SlurmUnavailable) as info:
        client.jobs(1, 2)
    assert len(recorder.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]
    _assert_secret_absent(info.value, caplog)


def test_backoff_is_capped(make_client):
    client, _, sleeps = make_client(
        lambda _r: httpx.Response(503), attempts=6, backoff=4, max_backoff=10
    )
    with pytest.raises(SlurmUnavailable):
        client.jobs(1, 2)
    assert sleeps == [4, 8, 10, 10, 10]


def test_connection_refused(make_client, caplog):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client, recorder, sleeps = make_client(refuse, attempts=3)
    with pytest.raises(SlurmUnavailable, match="Connection refused") as info:
        client.jobs(1, 2)
    assert len(recorder.requests) == 3
    assert sleeps == [1.0, 2.0]
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    _assert_secret_absent(info.value, caplog)


def test_timeout_is_retried_then_unavailable(make_client, caplog):
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, recorder, sleeps = make_client(slow, attempts=3)
    with pytest.raises(SlurmUnavailable, match="timed out"):
        client.jobs(1, 2)
    assert len(recorder.requests) == 3
    assert len(sleeps) == 2


def test_timeout_then_success(make_client):
    body = data("slurmdb_v0.0.38_jobs_hour07_final.json")
    outcomes: list[Exception | bytes] = [httpx.ConnectTimeout("slow"), body]

    def flaky(request: httpx.Request) -> httpx.Response:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(200, content=outcome)

    client, recorder, sleeps = make_client(flaky)
    page = client.jobs(1795244400, 1795248000)
    assert len(page.records) == 13
    assert len(recorder.requests) == 2
    assert sleeps == [1.0]


@pytest.mark.parametrize(
    "body", [b'{"jobs": [', b"<html>oops</html>", b'["not", "an", "envelope"]', b"{}"]
)
def test_garbage_is_a_payload_error(make_client, body):
    client, recorder, sleeps = make_client(lambda _r: httpx.Response(200, content=body))
    with pytest.raises(SlurmPayloadError):
        client.jobs(1, 2)
    assert len(recorder.requests) == 1 and sleeps == []


def test_redirect_is_not_followed(make_client):
    client, _, _ = make_client(lambda _r: httpx.Response(304))
    with pytest.raises(SlurmPayloadError) as info:
        client.jobs(1, 2)
    assert info.value.status == 304


def test_a_bad_record_is_quarantined_through_the_client(make_client, caplog):
    reply_json = data_json("slurmdb_v0.0.38_jobs_hour07_final.json")
    (job12,) = [job for job in reply_json["jobs"] if job["job_id"] == 12]
    del job12["time"]  # chair-nlp, 1 GPU x 94 s
    client, _, _ = make_client(lambda _r: reply(reply_json))
    with caplog.at_level(logging.WARNING, logger="connectors.slurm.client"):
        page = client.jobs(1795244400, 1795248000)
    assert len(page.records) == 12
    assert [(q.job_id, "time" in q.reason) for q in page.quarantined] == [(12, True)]
    assert json.loads(page.quarantined[0].raw)["job_id"] == 12
    totals: dict[str, int] = {}
    for record in page.records:
        totals[record.account] = totals.get(record.account, 0) + record.gpu_seconds
    assert totals == {"chair-nlp": 128 - 94, "chair-health": 19, "proj-thesis-01": 87}
    assert "quarantined record (job 12)" in caplog.text


# --- secrecy -------------------------------------------------------------------------------


def test_an_echoed_token_is_scrubbed(make_client, caplog):
    echo = f"invalid token {SECRET_TOKEN} for user".encode()
    client, _, _ = make_client(lambda _r: httpx.Response(400, content=echo))
    with pytest.raises(SlurmRejected) as info:
        client.jobs(1, 2)
    assert "<token>" in str(info.value)
    _assert_secret_absent(info.value, caplog)


def test_a_token_echoed_in_errors_is_scrubbed(make_client, caplog):
    body = {"errors": [{"error_number": 1007, "description": f"bad {SECRET_TOKEN}"}], "jobs": []}
    client, _, _ = make_client(lambda _r: reply(body))
    with pytest.raises(SlurmAuthError) as info:
        client.jobs(1, 2)
    _assert_secret_absent(info.value, caplog)


def test_token_not_in_logs_when_retrying(make_client, caplog):
    echo = f"overloaded {SECRET_TOKEN}".encode()
    client, _, _ = make_client(lambda _r: httpx.Response(503, content=echo), attempts=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(SlurmUnavailable) as info:
        client.jobs(1, 2)
    assert "retry 1/1" in caplog.text
    _assert_secret_absent(info.value, caplog)


def test_client_repr_has_no_token(make_client):
    client, _, _ = make_client(_ok)
    assert SECRET_TOKEN not in repr(client)
    assert "gpuhours" in repr(client)


def test_token_provider_failure_is_an_auth_error(make_client, tmp_path):
    client, recorder, sleeps = make_client(_ok, token_provider=FileToken(tmp_path / "missing"))
    with pytest.raises(SlurmAuthError, match="cannot read"):
        client.jobs(1, 2)
    assert recorder.requests == [] and sleeps == []
