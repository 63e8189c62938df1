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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Engine,
    Integer,
    String,
    column,
    delete,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from accounting.booking import Booking, JobKey, book, settle_closed
from accounting.charging import UTC_QUARTERS
from accounting.errors import UsageSourceError
from accounting.ingestion import IngestState, StoreResult, UsageBatch, Window
from accounting.usage import UsageRecord
from allocator.model import Pool
from allocator.periods import Calendar
from connectors.db import tables as t
from connectors.db.locks import hold_close_lock
from connectors.db.repositories import SqlPools

U = t.Base.metadata.tables["usage_records"]
C = t.Base.metadata.tables["charges"]
D = t.Base.metadata.tables["usage_daily"]
P = t.Base.metadata.tables["usage_period"]
#: Columns of ``charges`` a booking fills (``id`` is generated).
CHARGE_COLUMNS = [c.name for c in C.columns if c.name != "id"]
#: The rollup's key, in ``usage_daily`` order.
ROLLUP_KEY = [c.name for c in D.primary_key.columns]
PERIOD_KEY = [c.name for c in P.primary_key.columns]
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


def charge_row(b: Booking, now: int) -> tuple[Any, ...]:
    """A booking as a tuple in ``CHARGE_COLUMNS`` order."""
    return (
        b.cluster,
        b.job_id,
        b.submit,
        b.account,
        b.pool_id,
        b.period,
        b.origin_period,
        b.day,
        b.gpu_type,
        b.rate_milli,
        b.gpu_seconds,
        b.units,
        b.provisional,
        b.late,
        b.priced,
        now,
    )


_CHARGE_COPY_TYPES = [_COPY_TYPE_NAMES[type(c.type)] for c in C.columns if c.name != "id"]
RollupKey = tuple[str, str, str, str, int, str, bool, bool, bool]


def rollup_key(b: Any) -> RollupKey:
    """The ``usage_daily`` key of a booking or of a ``charges`` row."""
    return (
        b.period,
        b.pool_id,
        b.cluster,
        b.account,
        b.day,
        b.gpu_type,
        b.provisional,
        b.late,
        b.priced,
    )


class BookingContext:
    """What booking needs, read once per stored chunk in its transaction: the pools (routes,
    rates, node shapes), the site's calendar (period scheme, time zone) and the closed
    periods."""

    def __init__(self, pools: Sequence[Pool], calendar: Calendar, closed: Iterable[str]):
        self.pools = list(pools)
        self.calendar = calendar
        self.closed = frozenset(closed)
        ends = [calendar.period(p).end for p in self.closed]
        #: Records that started at or after this cannot touch a closed period.
        self.closed_until = int(max(ends).timestamp()) if ends else None

    def next_open(self, label: str) -> str:
        period = self.calendar.next(self.calendar.period(label))
        while period.label in self.closed:
            period = self.calendar.next(period)
        return period.label


def load_context(conn: Connection, calendar: Calendar) -> BookingContext:
    # The closed set is read under the close lock (shared, to the end of the chunk's
    # transaction): a close waits for this chunk, or this chunk sees the close.
    hold_close_lock(conn)
    with Session(bind=conn) as session:
        pools = SqlPools(session).list()
    closed = conn.scalars(select(t.PeriodCloseRow.period)).all()
    return BookingContext(pools, calendar, closed)


def copy_rows(
    conn: Connection,
    target: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
) -> None:
    """Binary ``COPY target (columns) FROM STDIN`` of ``rows`` on the connection's
    transaction (PostgreSQL)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY {target} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(list(types))
        write_row = copy.write_row
        for row in rows:
            write_row(row)


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


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

    def store_window(
        self, cluster: str, window: Window, batch: UsageBatch, now: int, advance_to: int | None
    ) -> StoreResult:
        with _gc_paused(len(batch.records)):
            records = dedupe([r for r in batch.records if r.cluster == cluster])
        with self.engine.begin() as conn:
            with _gc_paused(len(records)):
                if self.postgres:
                    new, changed = self._upsert_pg(conn, records, now)
                else:
                    new, changed = self._upsert_sqlite(conn, records, now)
                inserted, updated = len(new), len(changed)
                self.recharge(conn, records, new, changed, now)
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
    ) -> tuple[set[JobKey], set[JobKey]]:
        """Upsert; the keys inserted and the keys updated (same rule as ``_changed``)."""
        if not records:
            return set(), set()
        value_index = [COLUMNS.index(name) for name in VALUE_COLUMNS]
        final_index = COLUMNS.index("final")
        existing: dict[JobKey, tuple[Any, ...]] = {}
        for part in _chunks(records, 300):
            keys = [(r.cluster, r.job_id, r.submit) for r in part]
            query = select(*[U.c[name] for name in COLUMNS]).where(
                tuple_(U.c.cluster, U.c.job_id, U.c.submit).in_(keys)
            )
            for found in conn.execute(query):
                existing[(found[0], found[1], found[2])] = tuple(found)
        new: set[JobKey] = set()
        changed: set[JobKey] = set()
        rows = []
        for r in records:
            key = (r.cluster, r.job_id, r.submit)
            row = row_of(r, now)
            old = existing.get(key)
            if old is None:
                new.add(key)
            elif (not old[final_index] or row[final_index]) and any(
                old[i] != row[i] for i in value_index
            ):
                changed.add(key)
            else:
                continue
            rows.append(dict(zip(COLUMNS, row, strict=True)))
        if rows:
            stmt = sqlite_insert(U)
            stmt = stmt.on_conflict_do_update(
                index_elements=list(KEY),
                set_={name: stmt.excluded[name] for name in (*VALUE_COLUMNS, "ingested_at")},
            )
            conn.execute(stmt, rows)
        return new, changed

    def _upsert_pg(
        self, conn: Connection, records: Sequence[UsageRecord], now: int
    ) -> tuple[set[JobKey], set[JobKey]]:
        if not records:
            return set(), set()
        conn.execute(
            text(
                "CREATE TEMPORARY TABLE IF NOT EXISTS usage_staging "
                "(LIKE usage_records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
        )
        copy_rows(conn, "usage_staging", COLUMNS, COPY_TYPES, (row_of(r, now) for r in records))
        staging = table("usage_staging", *[column(c) for c in COLUMNS])
        base = pg_insert(U).from_select(COLUMNS, select(*[staging.c[c] for c in COLUMNS]))
        upserted = base.on_conflict_do_update(
            index_elements=list(KEY),
            set_={name: base.excluded[name] for name in (*VALUE_COLUMNS, "ingested_at")},
            where=self._changed(U, base.excluded),
        ).returning(
            U.c.cluster,
            U.c.job_id,
            U.c.submit,
            literal_column("(xmax = 0)", Boolean).label("inserted"),
        )
        new: set[JobKey] = set()
        changed: set[JobKey] = set()
        for cluster, job_id, submit, was_inserted in conn.execute(upserted):
            (new if was_inserted else changed).add((cluster, job_id, submit))
        return new, changed

    # --- charges and the daily rollup ------------------------------------------------------

    def recharge(
        self,
        conn: Connection,
        records: Sequence[UsageRecord],
        new: set[JobKey],
        changed: set[JobKey],
        now: int,
    ) -> int:
        """Replace the bookings of the new and changed records and move the rollup by the
        difference, in the caller's transaction. Returns the number of bookings written."""
        if not new and not changed:
            return 0
        ctx = load_context(conn, self.calendar)
        todo = [
            r for r in records if (key := (r.cluster, r.job_id, r.submit)) in new or key in changed
        ]
        moment = datetime.fromtimestamp(now, UTC)
        frozen = self._frozen(conn, ctx, todo)
        bookings: list[Booking] = []
        for r in todo:
            rows = book(r, ctx.pools, ctx.calendar, moment)
            key = (r.cluster, r.job_id, r.submit)
            if ctx.closed and (rows or key in frozen):
                rows = settle_closed(rows, ctx.closed, frozen.get(key, {}), ctx.next_open)
            bookings.extend(rows)
        deltas: dict[RollupKey, list[int]] = {}
        for old in self._delete_open(conn, ctx, sorted(changed)):
            d = deltas.setdefault(rollup_key(old), [0, 0, 0])
            d[0] -= old.gpu_seconds
            d[1] -= old.units
            d[2] -= 1
        for b in bookings:
            d = deltas.setdefault(rollup_key(b), [0, 0, 0])
            d[0] += b.gpu_seconds
            d[1] += b.units
            d[2] += 1
        self._insert_charges(conn, bookings, now)
        self._apply_rollup(conn, deltas)
        return len(bookings)

    def _frozen(
        self, conn: Connection, ctx: BookingContext, records: Sequence[UsageRecord]
    ) -> dict[JobKey, dict[tuple[str, str, str, str], tuple[int, int]]]:
        """What is booked for closed origins, per job, for records that may touch them."""
        if ctx.closed_until is None:
            return {}
        keys = [
            (r.cluster, r.job_id, r.submit)
            for r in records
            if r.start is not None and r.start < ctx.closed_until
        ]
        out: dict[JobKey, dict[tuple[str, str, str, str], tuple[int, int]]] = {}
        for part in _chunks(keys, 300):
            query = (
                select(
                    C.c.cluster,
                    C.c.job_id,
                    C.c.submit,
                    C.c.origin_period,
                    C.c.pool_id,
                    C.c.account,
                    C.c.gpu_type,
                    func.sum(C.c.gpu_seconds),
                    func.sum(C.c.units),
                )
                .where(
                    tuple_(C.c.cluster, C.c.job_id, C.c.submit).in_(part),
                    C.c.origin_period.in_(sorted(ctx.closed)),
                )
                .group_by(
                    C.c.cluster,
                    C.c.job_id,
                    C.c.submit,
                    C.c.origin_period,
                    C.c.pool_id,
                    C.c.account,
                    C.c.gpu_type,
                )
            )
            for cl, job, sub, origin, pool, account, gpu_type, secs, units in conn.execute(query):
                out.setdefault((cl, job, sub), {})[(origin, pool, account, gpu_type)] = (
                    int(secs),
                    int(units),
                )
        return out

    def _delete_open(
        self, conn: Connection, ctx: BookingContext, keys: Sequence[JobKey]
    ) -> list[Any]:
        """Delete the replaceable bookings of ``keys`` (not late, not in a closed period)."""
        gone: list[Any] = []
        returning = [C.c[name] for name in ROLLUP_KEY] + [C.c.gpu_seconds, C.c.units]
        for part in _chunks(keys, 300 if not self.postgres else 5000):
            stmt = delete(C).where(tuple_(C.c.cluster, C.c.job_id, C.c.submit).in_(part), ~C.c.late)
            if ctx.closed:
                stmt = stmt.where(C.c.period.not_in(sorted(ctx.closed)))
            gone.extend(conn.execute(stmt.returning(*returning)).all())
        return gone

    def _insert_charges(self, conn: Connection, bookings: Sequence[Booking], now: int) -> None:
        if not bookings:
            return
        if not self.postgres:
            conn.execute(
                insert(C),
                [dict(zip(CHARGE_COLUMNS, charge_row(b, now), strict=True)) for b in bookings],
            )
            return
        copy_rows(
            conn,
            "charges",
            CHARGE_COLUMNS,
            _CHARGE_COPY_TYPES,
            (charge_row(b, now) for b in bookings),
        )

    def _apply_rollup(self, conn: Connection, deltas: dict[RollupKey, list[int]]) -> None:
        """Move ``usage_daily`` and ``usage_period`` (the same without the day) by the deltas."""
        per_period: dict[tuple[Any, ...], list[int]] = {}
        for key, d in deltas.items():
            pk = key[:4] + key[5:]  # drop the day
            acc = per_period.setdefault(pk, [0, 0, 0])
            acc[0] += d[0]
            acc[1] += d[1]
            acc[2] += d[2]
        self._add_to(conn, D, ROLLUP_KEY, deltas)
        self._add_to(conn, P, PERIOD_KEY, per_period)

    def _add_to(
        self,
        conn: Connection,
        target: Any,
        key_names: Sequence[str],
        deltas: dict[Any, list[int]],
    ) -> None:
        """One upsert that adds the deltas to ``target`` (PostgreSQL: COPY them into a staging
        table first, as a chunk touches tens of thousands of rollup rows)."""
        items = [(key, d) for key, d in deltas.items() if d != [0, 0, 0]]
        if not items:
            return
        items.sort()  # a fixed order: concurrent writers lock rollup rows in the same order
        names = [c.name for c in target.columns]
        if self.postgres:
            staging_name = f"{target.name}_staging"
            conn.execute(
                text(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging_name} "
                    f"(LIKE {target.name}) ON COMMIT DELETE ROWS"
                )
            )
            types = [_COPY_TYPE_NAMES[type(c.type)] for c in target.columns]
            copy_rows(conn, staging_name, names, types, ((*key, *d) for key, d in items))
            staging = table(staging_name, *[column(n) for n in names])
            base = pg_insert(target).from_select(names, select(*[staging.c[n] for n in names]))
            conn.execute(
                base.on_conflict_do_update(
                    index_elements=list(key_names),
                    set_={
                        n: target.c[n] + base.excluded[n] for n in ("gpu_seconds", "units", "rows")
                    },
                )
            )
            return
        stmt = sqlite_insert(target)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key_names),
            set_={n: target.c[n] + stmt.excluded[n] for n in ("gpu_seconds", "units", "rows")},
        )
        rows = [
            dict(zip(key_names, key, strict=True), gpu_seconds=d[0], units=d[1], rows=d[2])
            for key, d in items
        ]
        for part in _chunks(rows, 5000):
            conn.execute(stmt, list(part))
