"""Ingestion into a real database: idempotent, chunking-independent, all-or-nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine, func, select

from accounting.errors import UsageSourceError
from accounting.ingestion import Quarantined, StoreResult, UsageBatch, Window, ingest
from accounting.usage import UsageRecord
from connectors.db import tables as t
from connectors.db.chunk_prep import PreparedBatch
from connectors.db.usage_store import SqlUsageStore
from tests.builders import usage_record

T0 = 1_795_200_000  # 2026-11-19T...
DAY = 86400


def job(job_id: int, start: int, elapsed: int, gpus: int = 1, **kw: object) -> UsageRecord:
    return usage_record(start, elapsed, gpus, **{"cluster": "c1", "job_id": job_id, **kw})


class FakeSlurm:
    """A usage source over a fixed set of job records, with sacct's window semantics."""

    def __init__(self, records: list[UsageRecord]) -> None:
        self.records = records
        self.fail_on: set[int] = set()
        self.calls: list[Window] = []
        self.quarantine: dict[int, Quarantined] = {}

    def fetch(self, window: Window) -> UsageBatch:
        self.calls.append(window)
        if window.start in self.fail_on:
            raise UsageSourceError("unavailable", "connection refused", transient=True)
        chosen = [
            r
            for r in self.records
            if r.start is not None
            and r.start < window.end
            and (r.end is None or r.end >= window.start)
        ]
        quarantined = [q for s, q in self.quarantine.items() if window.start <= s < window.end]
        return UsageBatch(chosen, quarantined)


def gpu_seconds(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.coalesce(func.sum(t.UsageRecordRow.gpu_seconds), 0))
            ).scalar_one()
        )


RECORDS = [job(i, T0 + i * 2000, 1000 + i, gpus=1 + i % 3) for i in range(60)]
EXPECTED = sum(r.gpus * r.elapsed for r in RECORDS)


def test_reingesting_the_same_windows_changes_nothing(engine: Engine) -> None:
    store, source = SqlUsageStore(engine), FakeSlurm(RECORDS)
    first = ingest("c1", source, store, T0 + 2 * DAY, since=T0, chunk=DAY)
    assert first.ok and first.inserted == 60
    assert gpu_seconds(engine) == EXPECTED
    again = ingest("c1", source, store, T0 + 2 * DAY, since=T0, chunk=DAY)
    assert (again.inserted, again.updated) == (0, 0)
    assert again.unchanged >= 60
    assert gpu_seconds(engine) == EXPECTED


@pytest.mark.parametrize("chunk", [600, 3 * 3600, DAY, 3 * DAY])
def test_any_chunking_gives_identical_totals(engine: Engine, chunk: int) -> None:
    store = SqlUsageStore(engine)
    report = ingest("c1", FakeSlurm(RECORDS), store, T0 + 2 * DAY, since=T0, chunk=chunk)
    assert report.ok
    assert gpu_seconds(engine) == EXPECTED
    assert len(store.records("c1")) == 60


def test_a_running_job_is_provisional_then_final(engine: Engine) -> None:
    store = SqlUsageStore(engine)
    running = job(1, T0, 500, gpus=2, state="RUNNING", end=None)
    source = FakeSlurm([running])
    ingest("c1", source, store, T0 + 600, since=T0 - 60)
    (stored,) = store.records("c1")
    assert not stored.final and stored.gpu_seconds == 1000
    source.records = [replace(running, state="COMPLETED", end=T0 + 900, elapsed=900)]
    report = ingest("c1", source, store, T0 + 1000)
    assert report.updated == 1
    (stored,) = store.records("c1")
    assert stored.final and stored.gpu_seconds == 1800
    # an older provisional view arriving late never replaces the final record
    source.records = [running]
    ingest("c1", source, store, T0 + 1100, since=T0 - 60)
    (stored,) = store.records("c1")
    assert stored.final and stored.gpu_seconds == 1800


def test_a_failed_window_stores_nothing_and_holds_the_watermark(engine: Engine) -> None:
    store, source = SqlUsageStore(engine), FakeSlurm(RECORDS)
    source.fail_on = {T0 + DAY}
    report = ingest("c1", source, store, T0 + 2 * DAY, since=T0, chunk=DAY)
    assert not report.ok and "connection refused" in report.error
    state = store.state("c1")
    assert state.watermark == T0 + DAY
    assert state.last_error_kind == "unavailable" and state.errors_total == {"unavailable": 1}
    source.fail_on = set()
    recovered = ingest("c1", source, store, T0 + 2 * DAY, chunk=DAY)
    assert recovered.ok
    assert store.state("c1").watermark == T0 + 2 * DAY
    assert store.state("c1").last_error == ""
    assert gpu_seconds(engine) == EXPECTED


def test_a_bad_record_is_quarantined_and_the_rest_stored(engine: Engine) -> None:
    store, source = SqlUsageStore(engine), FakeSlurm(RECORDS)
    source.quarantine = {T0 + 5: Quarantined("missing field 'time'", '{"job_id": 999}', 999)}
    report = ingest("c1", source, store, T0 + 2 * DAY, since=T0, chunk=DAY)
    assert report.quarantined == 1
    assert gpu_seconds(engine) == EXPECTED
    ingest("c1", source, store, T0 + 2 * DAY, since=T0, chunk=DAY)
    with engine.connect() as conn:
        rows = conn.execute(select(t.QuarantineRow.job_id, t.QuarantineRow.reason)).all()
    assert rows == [(999, "missing field 'time'")]
    assert store.state("c1").quarantined_total == 2  # seen twice, stored once


def test_a_chunk_of_stored_new_and_changed_records_is_told_apart(engine: Engine) -> None:
    """New keys go straight in (PostgreSQL: COPY), stored ones through the upsert: each
    counted once, what changed replaced, nothing twice."""
    store = SqlUsageStore(engine)
    running = job(10, T0 + 100, 500, state="RUNNING", end=None)
    first = [job(1, T0, 1000), running, job(30, T0 + 50, 100)]
    stored = store.store_window("c1", Window(T0, T0 + DAY), UsageBatch(first), T0 + 600, None)
    assert (stored.inserted, stored.updated, stored.unchanged) == (3, 0, 0)
    ended = replace(running, state="COMPLETED", end=T0 + 1100, elapsed=1000)
    mixed = [job(1, T0, 1000), ended, job(30, T0 + 50, 100), job(20, T0 + 10, 300)]
    again = store.store_window("c1", Window(T0, T0 + DAY), UsageBatch(mixed), T0 + 2000, None)
    assert (again.inserted, again.updated, again.unchanged) == (1, 1, 2)
    assert gpu_seconds(engine) == 1000 + 1000 + 100 + 300
    assert [r.job_id for r in store.records("c1")] == [1, 10, 20, 30]


def test_a_record_stored_by_another_writer_meanwhile_takes_the_upsert(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the look for stored keys and the COPY another writer may store one: the COPY
    fails on its key, is undone, and the whole chunk goes through the upsert instead."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes through the upsert alone")
    from connectors.db import usage_staging

    store = SqlUsageStore(engine)
    store.store_window("c1", Window(T0, T0 + DAY), UsageBatch([job(1, T0, 1000)]), T0, None)
    # the key probe looked too soon:
    monkeypatch.setattr(usage_staging, "stored_keys", lambda conn, records: set())
    chunk = [job(1, T0, 1000), job(2, T0 + 10, 500)]
    result = store.store_window("c1", Window(T0, T0 + DAY), UsageBatch(chunk), T0 + 60, None)
    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 1)
    assert gpu_seconds(engine) == 1500
    assert [r.job_id for r in store.records("c1")] == [1, 2]


def test_each_chunk_reaches_the_store_prepared_by_the_fetch_thread(engine: Engine) -> None:
    class Watched(SqlUsageStore):
        def __init__(self, engine: Engine) -> None:
            super().__init__(engine)
            self.booked_ahead: list[int] = []

        def store_window(
            self, cluster: str, window: Window, batch: UsageBatch, now: int, advance_to: int | None
        ) -> StoreResult:
            assert isinstance(batch, PreparedBatch) and batch.booked is not None
            self.booked_ahead.append(len(batch.booked.spans))
            return super().store_window(cluster, window, batch, now, advance_to)

    store = Watched(engine)
    report = ingest("c1", FakeSlurm(RECORDS), store, T0 + 2 * DAY, since=T0, chunk=DAY)
    assert report.ok and report.inserted == 60
    assert len(store.booked_ahead) == 2  # two windows, each booked ahead
    assert sum(store.booked_ahead) >= 60  # a job in both windows may be booked ahead twice
    assert gpu_seconds(engine) == EXPECTED
