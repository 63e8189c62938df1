"""The upsert of a chunk of usage records, idempotent: which keys are new, which changed.

PostgreSQL: the keys not stored yet (probed by job id range, :func:`stored_keys`) are COPYed
straight into ``usage_records``; the others are COPYed into a temporary staging table, then
one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE <changed>`` so that re-ingesting
unchanged rows writes no new row versions (PostgreSQL still locks each conflicting row); the
inserted/updated keys are told by the server (``xmax = 0``) rather than compared here.
SQLite: the existing rows are read by key, compared with the same rule, and the new and changed
ones written through ``executemany``.

A row is updated only while it is provisional, or by a final record, and only when it differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import (
    Boolean,
    Connection,
    column,
    func,
    literal_column,
    select,
    table,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accounting.booking import JobKey
from accounting.usage import UsageRecord
from connectors.db.usage_rows import (
    COLUMNS,
    COPY_TYPES,
    KEY,
    VALUE_COLUMNS,
    U,
    chunks,
    copy_rows,
    row_of,
)


def upsert(
    conn: Connection,
    records: Sequence[UsageRecord],
    now: int,
    postgres: bool,
    rows: Sequence[tuple[Any, ...] | None] | None = None,
) -> tuple[set[JobKey], set[JobKey]]:
    """Upsert ``records`` (one per key); the keys inserted and the keys updated. ``rows``:
    ``row_of(r, now)`` of records built ahead, None for others (PostgreSQL)."""
    if postgres:
        return upsert_pg(conn, records, now, rows)
    return upsert_sqlite(conn, records, now)


def _changed(table: Any, excluded: Any) -> Any:
    """Update only a provisional row, or with a final record, and only when it differs."""
    differs = None
    for name in VALUE_COLUMNS:
        cond = table.c[name].is_distinct_from(excluded[name])
        differs = cond if differs is None else differs | cond
    return ((~table.c.final) | excluded.final) & differs


def upsert_sqlite(
    conn: Connection, records: Sequence[UsageRecord], now: int
) -> tuple[set[JobKey], set[JobKey]]:
    """Upsert; the keys inserted and the keys updated (same rule as ``_changed``)."""
    if not records:
        return set(), set()
    value_index = [COLUMNS.index(name) for name in VALUE_COLUMNS]
    final_index = COLUMNS.index("final")
    existing: dict[JobKey, tuple[Any, ...]] = {}
    for part in chunks(records, 300):
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


def upsert_pg(
    conn: Connection,
    records: Sequence[UsageRecord],
    now: int,
    rows: Sequence[tuple[Any, ...] | None] | None = None,
) -> tuple[set[JobKey], set[JobKey]]:
    """Upsert; the keys inserted and the keys updated. The records whose key is not stored
    yet (all of them on a first pass) are COPYed straight into ``usage_records`` (in a
    savepoint: if another writer stored one meanwhile, they all take the staged path); the
    others go through the staging table."""
    if not records:
        return set(), set()
    stored = stored_keys(conn, records)
    if stored is None:
        return _staged(conn, records, now)
    fresh = [r for r in records if (r.cluster, r.job_id, r.submit) not in stored]
    made: Iterable[tuple[Any, ...]] = (row_of(r, now) for r in fresh)
    if rows is not None:  # built ahead for the records not stored then
        made = (
            row or row_of(r, now)
            for r, row in zip(records, rows, strict=True)
            if (r.cluster, r.job_id, r.submit) not in stored
        )
    new: set[JobKey] = set()
    if fresh:
        try:
            with conn.begin_nested():
                copy_rows(conn, "usage_records", COLUMNS, COPY_TYPES, made)
        except UniqueViolation:  # stored by another writer since: the staged path decides
            pass
        else:
            new = {(r.cluster, r.job_id, r.submit) for r in fresh}
            records = [r for r in records if (r.cluster, r.job_id, r.submit) in stored]
    inserted, changed = _staged(conn, records, now)
    return new | inserted, changed


def stored_keys(conn: Connection, records: Sequence[UsageRecord]) -> set[JobKey] | None:
    """The keys already stored among those whose job ids lie in the records' range, per
    cluster (index range scans: a chunk's job ids are mostly consecutive); None when that
    range holds at least half as many stored rows as there are records (mostly a re-ingest:
    the keys are not fetched, the staged upsert tells them apart)."""
    spans: dict[str, tuple[int, int]] = {}
    for r in records:
        low, high = spans.get(r.cluster, (r.job_id, r.job_id))
        spans[r.cluster] = (min(low, r.job_id), max(high, r.job_id))
    ranges = [
        (U.c.cluster == c) & U.c.job_id.between(low, high) for c, (low, high) in spans.items()
    ]
    count = sum(
        conn.execute(select(func.count()).select_from(U).where(r)).scalar_one() for r in ranges
    )
    if 2 * count >= len(records):
        return None
    out: set[JobKey] = set()
    for where in ranges if count else ():
        query = select(U.c.cluster, U.c.job_id, U.c.submit).where(where)
        out.update((c, j, s) for c, j, s in conn.execute(query))
    return out


def _staged(
    conn: Connection, records: Sequence[UsageRecord], now: int
) -> tuple[set[JobKey], set[JobKey]]:
    """Upsert through the staging table; the keys inserted and the keys updated."""
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
        where=_changed(U, base.excluded),
    ).returning(
        U.c.cluster,
        U.c.job_id,
        U.c.submit,
        literal_column("(xmax = 0)", Boolean).label("inserted"),
    )
    new: set[JobKey] = set()
    changed: set[JobKey] = set()
    for cluster, job_id, submit, was_inserted in conn.execute(upserted).all():
        (new if was_inserted else changed).add((cluster, job_id, submit))
    return new, changed
