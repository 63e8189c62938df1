"""The charges the ingestion stores (SQLite and PostgreSQL) equal the slow reference's
(``tests/unit/accounting/charging_reference.py``, the charging before issue 17), row for row,
for random job sets of a routed pool, running jobs clipped at the store's instant; the rollups
stay in step with them after every store."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from accounting.ingestion import UsageBatch, Window
from accounting.usage import UsageRecord
from connectors.db import tables as t
from connectors.db.chunk_prep import PreparedBatch
from connectors.db.usage_store import SqlUsageStore
from tests.builders import CAL, usage_record
from tests.db.test_accounting import rollup_matches_charges, store, world
from tests.unit.accounting.charging_reference import reference_charge

DAY = 86400
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
#: Jobs start within 60 days before the store's instant: days, a quarter's start, running ones.
EARLIEST = int(NOW.timestamp()) - 60 * DAY

Row = tuple[int, str, int, str, int, int, int, bool]

jobs = st.lists(
    st.tuples(
        st.integers(EARLIEST, int(NOW.timestamp()) - 1),  # start
        st.integers(1, 6 * DAY),  # elapsed
        st.integers(1, 8),  # GPUs
        st.booleans(),  # still running
    ),
    min_size=1,
    max_size=12,
)


def stored(engine: Engine, ids: list[int]) -> list[Row]:
    C = t.ChargeRow
    query = select(
        C.job_id, C.period, C.day, C.gpu_type, C.rate_milli, C.gpu_seconds, C.units, C.provisional
    ).where(C.cluster == "enact-dev", C.job_id.in_(ids))
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(query))  # type: ignore[misc]


@pytest.mark.parametrize("ahead", [False, True], ids=["plain", "prepared-ahead"])
def test_stored_charges_equal_the_slow_references_for_random_job_sets(
    engine: Engine, ahead: bool
) -> None:
    """``prepared-ahead``: each job set is prepared as the fetch-ahead thread does, then
    stored."""
    uow = world(engine)
    with uow:
        pool = uow.pools.get("loc")
    assert pool is not None
    ids = count(1)

    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(jobs)
    def check(drawn: list[tuple[int, int, int, bool]]) -> None:
        records: list[UsageRecord] = []
        for start, elapsed, gpus, running in drawn:
            fields: dict[str, object] = {"job_id": next(ids), "account": "acct-p1"}
            if running:
                fields.update(state="RUNNING", end=None)
            records.append(usage_record(start, elapsed, gpus, **fields))
        if ahead:
            now = int(NOW.timestamp())
            sql = SqlUsageStore(engine)
            batch = sql.prepare("enact-dev", UsageBatch(records), now)
            assert isinstance(batch, PreparedBatch) and batch.booked is not None
            sql.store_window("enact-dev", Window(now - 86400 * 200, now), batch, now, None)
        else:
            store(engine, records, int(NOW.timestamp()))
        expected = sorted(
            (
                r.job_id,
                c.period,
                c.day,
                c.gpu_type,
                c.rate_milli,
                c.gpu_seconds,
                c.units,
                c.provisional,
            )
            for r in records
            for c in reference_charge(r, pool, CAL, NOW, split_days=True)
        )
        assert expected  # every job ran: each has charges
        assert stored(engine, [r.job_id for r in records]) == expected
        rollup_matches_charges(engine)

    check()
