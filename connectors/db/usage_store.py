"""Storing usage: idempotent upserts, quarantine and the watermark, in one transaction.

Each stored chunk, in one transaction: the records upserted by key
(:mod:`connectors.db.usage_staging`: on PostgreSQL, new keys COPYed straight in, stored ones
through a staging table), the new and changed ones charged again with the rollups moved by
the difference (:mod:`connectors.db.charge_store`), the quarantined records kept, the
cluster's ingestion state (watermark, counters) and an ``ingest_runs`` row written. Rows and
bulk tools: :mod:`connectors.db.usage_rows`. A batch from :meth:`SqlUsageStore.prepare`
(the fetch-ahead thread, :mod:`connectors.db.chunk_prep`) carries work done ahead, which the
transaction takes where it still holds.

Speed (``tests/bench/bench_ingest.py``): the COPY is binary, rows are built without per-row
sorting or joining, the inserted/updated counts are aggregated by the server rather than
returned row by row, and the cyclic GC is paused while a big chunk is turned into rows.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from accounting.charging import UTC_QUARTERS
from accounting.errors import UsageSourceError
from accounting.ingestion import IngestState, StoreResult, UsageBatch, Window
from accounting.usage import UsageRecord
from allocator.periods import Calendar
from connectors.db import tables as t
from connectors.db.charge_store import PERIOD_KEY, ROLLUP_KEY, recharge
from connectors.db.chunk_prep import PreparedBatch, prepare
from connectors.db.usage_rows import U, decode_types, dedupe, gc_paused, record_of
from connectors.db.usage_staging import upsert

#: ``PERIOD_KEY``, ``ROLLUP_KEY`` and ``decode_types`` are also imported from here.
__all__ = ["PERIOD_KEY", "ROLLUP_KEY", "SqlUsageStore", "decode_types"]


class SqlUsageStore:
    """Usage records, their charges and the daily rollup, changed together per chunk."""

    def __init__(self, engine: Engine, calendar: Calendar = UTC_QUARTERS) -> None:
        self.engine = engine
        self.calendar = calendar
        self.postgres = engine.dialect.name == "postgresql"

    # --- reads -----------------------------------------------------------------------------

    def state(self, cluster: str) -> IngestState:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.Base.metadata.tables["ingest_state"]).where(
                    t.IngestStateRow.cluster == cluster
                )
            ).first()
            errors = dict(
                conn.execute(
                    select(t.IngestErrorCountRow.kind, t.IngestErrorCountRow.count).where(
                        t.IngestErrorCountRow.cluster == cluster
                    )
                )
                .tuples()
                .all()
            )
        if row is None:
            return IngestState(cluster, errors_total=errors)
        m = row._mapping
        return IngestState(
            cluster,
            m["watermark"],
            m["last_success"],
            m["last_attempt"],
            m["last_error"],
            m["last_error_kind"],
            m["records_total"],
            m["quarantined_total"],
            errors,
        )

    def clusters(self) -> list[IngestState]:
        with self.engine.connect() as conn:
            names = list(conn.scalars(select(t.IngestStateRow.cluster).order_by("cluster")))
        return [self.state(name) for name in names]

    def records(self, cluster: str | None = None) -> list[UsageRecord]:
        query = select(U).order_by(U.c.cluster, U.c.job_id, U.c.submit)
        if cluster is not None:
            query = query.where(U.c.cluster == cluster)
        with self.engine.connect() as conn:
            return [record_of(row) for row in conn.execute(query)]

    # --- writes ----------------------------------------------------------------------------

    def prepare(self, cluster: str, batch: UsageBatch, now: int) -> UsageBatch:
        """Work on a fetched batch ahead of its transaction (:mod:`connectors.db.chunk_prep`)."""
        return prepare(self.engine, cluster, batch, now, self.calendar, postgres=self.postgres)

    def store_window(
        self, cluster: str, window: Window, batch: UsageBatch, now: int, advance_to: int | None
    ) -> StoreResult:
        ahead = batch if isinstance(batch, PreparedBatch) else None
        if ahead is not None and (ahead.cluster, ahead.now) == (cluster, now):
            records = ahead.kept
        else:
            ahead = None
            with gc_paused(len(batch.records)):
                records = dedupe([r for r in batch.records if r.cluster == cluster])
        with self.engine.begin() as conn:
            with gc_paused(len(records)):
                rows = None if ahead is None else ahead.rows
                new, changed = upsert(conn, records, now, self.postgres, rows)
                inserted, updated = len(new), len(changed)
                booked = None if ahead is None else ahead.booked
                recharge(
                    conn,
                    records,
                    new,
                    changed,
                    now,
                    calendar=self.calendar,
                    postgres=self.postgres,
                    booked=booked,
                )
            quarantined = self._quarantine(conn, cluster, window, batch, now)
            self._touch_state(
                conn,
                cluster,
                now,
                success=True,
                advance_to=advance_to,
                records=inserted + updated,
                quarantined=quarantined,
            )
            conn.execute(
                insert(t.IngestRunRow).values(
                    cluster=cluster,
                    at=now,
                    window_start=window.start,
                    window_end=window.end,
                    status="stored",
                    inserted=inserted,
                    updated=updated,
                    unchanged=len(records) - inserted - updated,
                    quarantined=quarantined,
                    error="",
                )
            )
        return StoreResult(inserted, updated, len(records) - inserted - updated, quarantined)

    def record_failure(
        self, cluster: str, window: Window, error: UsageSourceError, now: int
    ) -> None:
        with self.engine.begin() as conn:
            self._touch_state(conn, cluster, now, success=False, error=error)
            conn.execute(
                insert(t.IngestRunRow).values(
                    cluster=cluster,
                    at=now,
                    window_start=window.start,
                    window_end=window.end,
                    status="failed",
                    error=error.message,
                )
            )

    def _touch_state(
        self,
        conn: Connection,
        cluster: str,
        now: int,
        *,
        success: bool,
        advance_to: int | None = None,
        records: int = 0,
        quarantined: int = 0,
        error: UsageSourceError | None = None,
    ) -> None:
        S = t.IngestStateRow
        if conn.execute(select(S.cluster).where(S.cluster == cluster)).first() is None:
            conn.execute(
                insert(S).values(
                    cluster=cluster,
                    watermark=None,
                    last_success=None,
                    last_attempt=None,
                    last_error="",
                    last_error_kind="",
                    records_total=0,
                    quarantined_total=0,
                )
            )
        values: dict[str, Any] = {"last_attempt": now}
        if success:
            values.update(
                last_success=now,
                last_error="",
                last_error_kind="",
                records_total=S.records_total + records,
                quarantined_total=S.quarantined_total + quarantined,
            )
            if advance_to is not None:
                values["watermark"] = advance_to
        elif error is not None:
            values.update(last_error=error.message, last_error_kind=error.kind)
            self._count_error(conn, cluster, error)
        conn.execute(update(S).where(S.cluster == cluster).values(**values))

    @staticmethod
    def _count_error(conn: Connection, cluster: str, error: UsageSourceError) -> None:
        """One more failed fetch of ``error``'s kind for ``cluster``."""
        E = t.IngestErrorCountRow
        found = conn.execute(
            select(E.count).where(E.cluster == cluster, E.kind == error.kind)
        ).first()
        if found is None:
            conn.execute(insert(E).values(cluster=cluster, kind=error.kind, count=1))
        else:
            conn.execute(
                update(E)
                .where(E.cluster == cluster, E.kind == error.kind)
                .values(count=E.count + 1)
            )

    def _quarantine(
        self, conn: Connection, cluster: str, window: Window, batch: UsageBatch, now: int
    ) -> int:
        Q = t.QuarantineRow
        for item in batch.quarantined:
            digest = hashlib.sha256(item.raw.encode()).hexdigest()
            existing = conn.execute(
                select(Q.id).where(Q.cluster == cluster, Q.raw_hash == digest)
            ).first()
            if existing is not None:
                conn.execute(update(Q).where(Q.id == existing[0]).values(last_seen=now))
                continue
            conn.execute(
                insert(Q).values(
                    cluster=cluster,
                    job_id=item.job_id,
                    reason=item.reason,
                    raw=item.raw,
                    raw_hash=digest,
                    window_start=window.start,
                    window_end=window.end,
                    first_seen=now,
                    last_seen=now,
                )
            )
        return len(batch.quarantined)
