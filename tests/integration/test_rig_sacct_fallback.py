"""The ``sacct`` fallback against the real rigs: ingesting through ``sacct`` on the rig's host
(source ``sacct``) stores the same runs and GPU-seconds as ingesting through slurmrestd, and
both equal Slurm's AllocTRES x ElapsedRaw. Once per rig (the sacct path has no API version).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from connectors.ingest import SacctUsageSource
from tests.integration.rig_support import (
    assert_usage_equal,
    by_key,
    done_rows,
    empty,
    ingest,
    stored,
)
from tests.integration.slurm_rig import (
    Rig,
    RigJobs,
    any_rig_reason,
    usage_of_records,
    usage_of_sacct,
)

REASON = any_rig_reason()
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


def test_sacct_fallback_stores_what_rest_stores(
    rig: Rig,
    finished: RigJobs,
    engines: dict[str, Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if rig.api_version != rig.kind.api_versions[-1]:
        pytest.skip("sacct has no API version: once per rig (with its newest REST version)")
    rows = done_rows(rig, finished)
    since, config = finished.t0 - 60, rig.config(chunk_seconds=600)
    # the rig's own sacct (24.11: the wrapper into its tree) and its slurm.conf
    for name in ("PATH", "SLURM_CONF"):
        monkeypatch.setenv(name, rig.env()[name])
    rest_engine, sacct_engine = engines["sqlite"], engines.get("postgres", engines["sqlite"])

    via_rest = ingest(rest_engine, config, since=since)
    assert via_rest.ok, via_rest.error
    from_rest = by_key(stored(rest_engine, rig, rows))
    if sacct_engine is rest_engine:  # SQLite only: start the sacct run from nothing
        empty(rest_engine)

    sacct_config = rig.config(chunk_seconds=600, source="sacct", url="")
    via_sacct = ingest(
        sacct_engine, sacct_config, since=since, source=SacctUsageSource(sacct_config)
    )
    assert via_sacct.ok, via_sacct.error
    from_sacct = by_key(stored(sacct_engine, rig, rows))

    assert set(from_sacct) == set(from_rest) == {(r.job_id, r.submit) for r in rows}
    for key, record in from_rest.items():
        other = from_sacct[key]
        assert (other.account, other.state, other.elapsed) == (
            record.account,
            record.state,
            record.elapsed,
        ), key
        assert (other.gpus, other.gpus_by_type) == (record.gpus, record.gpus_by_type), key
    expected = usage_of_sacct(rows)
    assert_usage_equal(usage_of_records(from_sacct.values()), expected)
    assert_usage_equal(usage_of_records(from_rest.values()), expected)
