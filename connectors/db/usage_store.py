"""Storing usage: idempotent upserts, quarantine and the watermark, in one transaction.

PostgreSQL: COPY the chunk into a temporary staging table, then one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE <changed>`` so that re-ingesting
unchanged rows writes no new row versions (PostgreSQL still locks each conflicting row).
SQLite: the same statement through ``executemany``.

Speed (``tests/bench/bench_ingest.py``): the COPY is binary, rows are built without per-row
sorting or joining, the inserted/updated counts are aggregated by the server rather than
returned row by row, and the cyclic GC is paused while a big chunk is turned into rows.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Engine,
    Integer,
    String,
    column,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accounting.errors import UsageSourceError
from accounting.ingestion import IngestState, StoreResult, UsageBatch, Window
from accounting.usage import UsageRecord
from connectors.db import tables as t

U = t.Base.metadata.tables["usage_records"]
COLUMNS = [c.name for c in U.columns]
KEY = ("cluster", "job_id", "submit")
QUOTED_COLUMNS = ", ".join(f'"{c}"' for c in COLUMNS)
VALUE_COLUMNS = [c for c in COLUMNS if c not in KEY and c != "ingested_at"]
_COPY_TYPE_NAMES = {String: "varchar", BigInteger: "bigint", Integer: "integer", Boolean: "boolean"}
#: PostgreSQL types of ``COLUMNS``, which the binary COPY has to name.
COPY_TYPES = [_COPY_TYPE_NAMES[type(c.type)] for c in U.columns]
#: Below this many records the GC is left alone (as in ``connectors.slurm.decode``).
_GC_PAUSE_RECORDS = 1000


def encode_types(pairs: Iterable[tuple[str, int]]) -> str:
    if type(pairs) is tuple and len(pairs) <= 1:  # the usual case: no or one GPU type
        if not pairs:
            return ""
        ((name, count),) = pairs
        return f"{name}={count}"
    return ",".join(f"{name}={count}" for name, count in sorted(pairs))


def decode_types(value: str) -> tuple[tuple[str, int], ...]:
    if not value:
        return ()
    return tuple((k, int(v)) for k, v in (part.rsplit("=", 1) for part in value.split(",")))


def row_of(r: UsageRecord, now: int) -> tuple[Any, ...]:
    """A usage record as a tuple in ``COLUMNS`` order."""
    return (
        r.cluster,
        r.job_id,
        r.submit,
        r.sluid,
        r.account,
        r.user,
        r.partition,
        r.qos,
        r.state,
        r.start,
        r.end,
        r.elapsed,
        r.gpus,
        encode_types(r.gpus_by_type),
        r.gpu_seconds,
        r.alloc_cpus,
        r.alloc_mem_mb,
        r.alloc_nodes,
        r.array_job_id,
        r.array_task_id,
        r.het_job_id,
        r.het_offset,
        r.restart_count,
        r.final,
        now,
    )


def record_of(row: Any) -> UsageRecord:
    m = row._mapping
    return UsageRecord(
        cluster=m["cluster"],
        job_id=m["job_id"],
        submit=m["submit"],
        account=m["account"],
        user=m["user"],
        partition=m["partition"],
        qos=m["qos"],
        state=m["state"],
        start=m["start"],
        end=m["end"],
        elapsed=m["elapsed"],
        gpus=m["gpus"],
        gpus_by_type=decode_types(m["gpus_by_type"]),
        sluid=m["sluid"],
        array_job_id=m["array_job_id"],
        array_task_id=m["array_task_id"],
        het_job_id=m["het_job_id"],
        het_offset=m["het_offset"],
        restart_count=m["restart_count"],
        alloc_cpus=m["alloc_cpus"],
        alloc_mem_mb=m["alloc_mem_mb"],
        alloc_nodes=m["alloc_nodes"],
    )


def dedupe(records: Sequence[UsageRecord]) -> list[UsageRecord]:
    """One record per key within a batch: a final one wins over a provisional one."""
    if len({(r.cluster, r.job_id, r.submit) for r in records}) == len(records):
        return list(records)  # the usual case: no key twice
    best: dict[tuple[str, int, int], UsageRecord] = {}
    for r in records:
        key = (r.cluster, r.job_id, r.submit)
        old = best.get(key)
        if old is None or (r.final or not old.final):
            best[key] = r
    return list(best.values())


@contextmanager
def _gc_paused(size: int) -> Iterator[None]:
    """Pause the cyclic GC while ``size`` records are deduplicated and become rows: tens of
    thousands of new GC-tracked tuples would make it rescan the heap again and again (as in
    ``connectors.slurm.decode``). Any cycle made meanwhile is collected once it resumes."""
    paused = size >= _GC_PAUSE_RECORDS and gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


class SqlUsageStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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

    def store_window(
        self, cluster: str, window: Window, batch: UsageBatch, now: int, advance_to: int | None
    ) -> StoreResult:
        with _gc_paused(len(batch.records)):
            records = dedupe([r for r in batch.records if r.cluster == cluster])
        with self.engine.begin() as conn:
            with _gc_paused(len(records)):
                if self.postgres:
                    inserted, updated = self._upsert_pg(conn, records, now)
                else:
                    inserted, updated = self._upsert_sqlite(conn, records, now)
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
        conn.execute(update(S).where(S.cluster == cluster).values(**values))

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

    @staticmethod
    def _changed(table: Any, excluded: Any) -> Any:
        """Update only a provisional row, or with a final record, and only when it differs."""
        differs = None
        for name in VALUE_COLUMNS:
            cond = table.c[name].is_distinct_from(excluded[name])
            differs = cond if differs is None else differs | cond
        return ((~table.c.final) | excluded.final) & differs

    def _upsert_sqlite(
        self, conn: Connection, records: Sequence[UsageRecord], now: int
    ) -> tuple[int, int]:
        if not records:
            return 0, 0
        before = conn.execute(select(func.count()).select_from(U)).scalar_one()
        changes_before = conn.exec_driver_sql("SELECT total_changes()").scalar_one()
        stmt = sqlite_insert(U)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(KEY),
            set_={name: stmt.excluded[name] for name in (*VALUE_COLUMNS, "ingested_at")},
            where=self._changed(U, stmt.excluded),
        )
        conn.execute(stmt, [dict(zip(COLUMNS, row_of(r, now), strict=True)) for r in records])
        changes = conn.exec_driver_sql("SELECT total_changes()").scalar_one() - changes_before
        inserted = conn.execute(select(func.count()).select_from(U)).scalar_one() - before
        return inserted, changes - inserted

    def _upsert_pg(
        self, conn: Connection, records: Sequence[UsageRecord], now: int
    ) -> tuple[int, int]:
        if not records:
            return 0, 0
        conn.execute(
            text(
                "CREATE TEMPORARY TABLE IF NOT EXISTS usage_staging "
                "(LIKE usage_records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
        )
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY usage_staging ({QUOTED_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(COPY_TYPES)
            write_row = copy.write_row
            for r in records:
                write_row(row_of(r, now))
        staging = table("usage_staging", *[column(c) for c in COLUMNS])
        base = pg_insert(U).from_select(COLUMNS, select(*[staging.c[c] for c in COLUMNS]))
        upserted = (
            base.on_conflict_do_update(
                index_elements=list(KEY),
                set_={name: base.excluded[name] for name in (*VALUE_COLUMNS, "ingested_at")},
                where=self._changed(U, base.excluded),
            )
            .returning(literal_column("(xmax = 0)", Boolean).label("inserted"))
            .cte("upserted")
        )
        # Counted by the server: one row back instead of one flag per stored record.
        counts = select(func.count().filter(upserted.c.inserted), func.count())
        inserted, stored = conn.execute(counts.select_from(upserted)).one()
        return inserted, stored - inserted
