"""A chunk prepared ahead (on the ingestion's fetch thread, while the chunk before is stored)
is stored exactly as if it had not been: its work is taken only where the chunk's own
transaction would compute the same, whatever changed between preparing and storing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, select

from accounting.ingestion import UsageBatch, Window
from accounting.services import close_period
from accounting.usage import UsageRecord
from allocator import services as svc
from allocator.model import MILLI, Rate
from connectors.db import tables as t
from connectors.db.burn_tables import UsageBurnRow, UsageBurnStateRow
from connectors.db.chunk_prep import PreparedBatch
from connectors.db.usage_store import SqlUsageStore
from tests.builders import ADMIN, CAL
from tests.db.test_accounting import NOV, Q3_END, rec, rollup_matches_charges, world

CLUSTER = "enact-dev"
WINDOW = Window(NOV - 86400 * 200, NOV + 86400)
NOW = NOV + 86400

#: A first pass's chunk: finished and running jobs, one over several days, an unpriced GPU
#: type, an unmapped account, a record of another cluster and one key twice.
CHUNK = [
    rec(1, NOV - 3 * 86400, 3 * 86400 + 500, 2),
    rec(2, NOV, 3600),
    rec(3, NOV + 600, 7200, 1, state="RUNNING", end=None),
    rec(4, NOV + 900, 100, gpus_by_type=(("h100", 1),)),
    rec(5, NOV + 1200, 1800, account="nobody"),
    rec(6, NOV + 1500, 60, cluster="elsewhere"),
    rec(7, NOV + 1800, 900, state="RUNNING", end=None),
    rec(7, NOV + 1800, 1000),
]


def prepared(store: SqlUsageStore, records: list[UsageRecord], now: int = NOW) -> PreparedBatch:
    batch = store.prepare(CLUSTER, UsageBatch(records), now)
    assert isinstance(batch, PreparedBatch)
    return batch


def books(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the charging writes, but for charge ids."""
    C = t.ChargeRow
    charge = [c for c in C.__table__.columns if c.name != "id"]
    tables: dict[str, Any] = {
        "usage": t.UsageRecordRow.__table__,
        "daily": t.UsageDailyRow.__table__,
        "period": t.UsagePeriodRow.__table__,
        "burn": UsageBurnRow.__table__,
    }
    with engine.connect() as conn:
        out = {name: sorted(map(tuple, conn.execute(select(tab)))) for name, tab in tables.items()}
        out["charges"] = sorted(map(tuple, conn.execute(select(*charge))))
    return out


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for row in (t.ChargeRow, t.UsageDailyRow, t.UsagePeriodRow, UsageBurnRow):
            conn.execute(delete(row))
        conn.execute(delete(UsageBurnStateRow))
        conn.execute(delete(t.UsageRecordRow))


def test_a_prepared_first_pass_stores_what_the_plain_path_stores(engine: Engine) -> None:
    world(engine)
    store = SqlUsageStore(engine)
    store.store_window(CLUSTER, WINDOW, UsageBatch(CHUNK), NOW, None)
    plain = books(engine)
    wipe(engine)
    ahead = prepared(store, CHUNK)
    assert ahead.booked is not None
    assert len(ahead.booked.spans) == len(ahead.kept) == 6  # every record booked ahead
    result = store.store_window(CLUSTER, WINDOW, ahead, NOW, None)
    assert result.inserted == 6
    assert books(engine) == plain
    assert len(plain["charges"]) > 6
    rollup_matches_charges(engine)


def test_a_rate_changed_after_preparing_is_the_rate_charged(engine: Engine) -> None:
    uow = world(engine)
    store = SqlUsageStore(engine)
    ahead = prepared(store, [rec(2, NOV, 3600)])
    from_nov = datetime(2026, 11, 1, tzinfo=UTC)  # before the job's start
    svc.set_rate(uow, ADMIN, from_nov, "loc", Rate("a100", 3 * MILLI, from_nov))
    store.store_window(CLUSTER, WINDOW, ahead, NOW, None)
    with engine.connect() as conn:
        rates = conn.execute(select(t.ChargeRow.rate_milli, t.ChargeRow.units)).all()
    assert [tuple(r) for r in rates] == [(3 * MILLI, 3 * 3600)]
    rollup_matches_charges(engine)


def test_a_period_closed_after_preparing_gets_its_usage_late(engine: Engine) -> None:
    uow = world(engine)
    store = SqlUsageStore(engine)
    sept = Q3_END - 86400 * 3
    ahead = prepared(store, [rec(12, sept + 7200, 1800)])
    assert ahead.booked is not None and ahead.booked.rows  # booked ahead in an open Q3
    closed_at = datetime(2026, 10, 2, tzinfo=UTC)
    close_period(uow, ADMIN, closed_at, "2026Q3", "Q3 reconciled", force=True, calendar=CAL)
    store.store_window(CLUSTER, WINDOW, ahead, NOW, None)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.ChargeRow.period, t.ChargeRow.origin_period, t.ChargeRow.late)
        ).all()
    assert [tuple(r) for r in rows] == [("2026Q4", "2026Q3", True)]
    rollup_matches_charges(engine)


def test_a_job_in_two_prepared_windows_is_charged_once(engine: Engine) -> None:
    """Chunk 2 is prepared before chunk 1 is stored (the fetch-ahead's timing): the job that
    ran across both windows is new for neither store of chunk 2, unchanged (job 3) or
    changed (job 4, running then final)."""
    world(engine)
    store = SqlUsageStore(engine)
    running = rec(4, NOV + 3000, 900, state="RUNNING", end=None)
    first = [rec(1, NOV, 3600), rec(3, NOV + 3000, 4000), running]
    second = [rec(3, NOV + 3000, 4000), rec(4, NOV + 3000, 5000), rec(5, NOV + 7000, 600)]
    plain_now = NOV + 8000
    store.store_window(CLUSTER, WINDOW, UsageBatch(first), plain_now, None)
    store.store_window(CLUSTER, WINDOW, UsageBatch(second), plain_now, None)
    plain = books(engine)
    wipe(engine)
    one, two = prepared(store, first, plain_now), prepared(store, second, plain_now)
    assert two.booked is not None and len(two.booked.spans) == 3  # all new when prepared
    store.store_window(CLUSTER, WINDOW, one, plain_now, None)
    result = store.store_window(CLUSTER, WINDOW, two, plain_now, None)
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    assert books(engine) == plain
    rollup_matches_charges(engine)


def test_a_reingest_is_not_booked_ahead_and_writes_nothing(engine: Engine) -> None:
    world(engine)
    store = SqlUsageStore(engine)
    store.store_window(CLUSTER, WINDOW, prepared(store, CHUNK), NOW, None)
    before = books(engine)
    again = prepared(store, CHUNK, NOW + 60)
    assert again.booked is None and again.rows is None and len(again.kept) == 6
    result = store.store_window(CLUSTER, WINDOW, again, NOW + 60, None)
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 6)
    assert books(engine) == before


def test_a_batch_prepared_for_another_instant_is_stored_as_a_plain_one(engine: Engine) -> None:
    world(engine)
    store = SqlUsageStore(engine)
    running = [rec(3, NOW - 5000, 5000, 1, state="RUNNING", end=None)]
    store.store_window(CLUSTER, WINDOW, prepared(store, running, NOW - 3600), NOW, None)
    with engine.connect() as conn:
        seconds = conn.execute(select(t.ChargeRow.gpu_seconds)).scalars().all()
    assert sum(seconds) == 5000  # clipped at the store's instant (1,400 s at the other)
    rollup_matches_charges(engine)
