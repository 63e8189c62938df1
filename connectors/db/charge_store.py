"""Charges and the rollups: a chunk's records booked again, the rollups moved by the difference.

For the new and changed records of a stored chunk, in its transaction: their replaceable
bookings (not late, not in a closed period) are deleted, ``accounting.chunk_booking`` books
them again as plain row tuples, the whole chunk at once (a record that started before the end
of a closed period goes through ``accounting.booking.book`` and ``settle_closed``), the new
rows are written (PostgreSQL: a binary COPY), ``usage_daily`` and ``usage_period`` move by
the difference in one upsert each (a fixed key order: concurrent writers lock rollup rows in
the same order), and the burn windows with them (``connectors.db.burn_windows``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, column, delete, func, insert, select, table, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from accounting.booking import JobKey, book, settle_closed
from accounting.chunk_booking import ChunkBooker, Row, booking_row
from accounting.usage import UsageRecord
from allocator.model import Pool
from allocator.periods import Calendar
from connectors.db import burn_windows
from connectors.db import tables as t
from connectors.db.locks import hold_close_lock
from connectors.db.repositories import SqlPools
from connectors.db.usage_rows import chunks, copy_rows, copy_types

C = t.Base.metadata.tables["charges"]
D = t.Base.metadata.tables["usage_daily"]
P = t.Base.metadata.tables["usage_period"]
#: Columns of ``charges`` a booking fills (``id`` is generated).
CHARGE_COLUMNS = [c.name for c in C.columns if c.name != "id"]
#: The rollup's key, in ``usage_daily`` order.
ROLLUP_KEY = [c.name for c in D.primary_key.columns]
PERIOD_KEY = [c.name for c in P.primary_key.columns]


_CHARGE_COPY_TYPES = copy_types(C, skip="id")
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
    return read_context(conn, calendar)


def read_context(conn: Connection, calendar: Calendar) -> BookingContext:
    """The booking context as it stands, without the close lock (a guess for booking ahead)."""
    with Session(bind=conn) as session:
        pools = SqlPools(session).list()
    closed = conn.scalars(select(t.PeriodCloseRow.period)).all()
    return BookingContext(pools, calendar, closed)


@dataclass(frozen=True, slots=True)
class Booked:
    """Records booked ahead as new, under ``context``; used once (``deltas`` is moved)."""

    context: BookingContext
    #: The rows of the records booked, in their order.
    rows: list[Row]
    #: Each booked record's rows: ``rows[a:b]``.
    spans: dict[JobKey, tuple[int, int]]
    #: The rollup deltas of all ``rows``.
    deltas: dict[RollupKey, list[int]]

    def fits(self, ctx: BookingContext) -> bool:
        """Booking now would give these rows: the same pools and closed periods."""
        return ctx.closed == self.context.closed and ctx.pools == self.context.pools


def book_new(ctx: BookingContext, records: Sequence[UsageRecord], now: int) -> Booked:
    """Book ``records`` as new under ``ctx``, but for those that may touch a closed period
    (their booking needs what is already booked there)."""
    until = ctx.closed_until
    booker = ChunkBooker(ctx.pools, ctx.calendar, datetime.fromtimestamp(now, UTC))
    rows: list[Row] = []
    spans: dict[JobKey, tuple[int, int]] = {}
    for r in records:
        if until is None or r.start is None or r.start >= until:
            start = len(rows)
            rows += booker.rows(r)
            spans[(r.cluster, r.job_id, r.submit)] = (start, len(rows))
    deltas: dict[RollupKey, list[int]] = {}
    _add_rows(deltas, rows)
    return Booked(ctx, rows, spans, deltas)


def _add_rows(deltas: dict[RollupKey, list[int]], rows: Sequence[Row], sign: int = 1) -> None:
    for row in rows:
        # period, pool, cluster, account, day, gpu_type, provisional, late, priced
        k = (row[5], row[4], row[0], row[3], row[7], row[8], row[12], row[13], row[14])
        found = deltas.get(k)
        if found is None:
            deltas[k] = [sign * row[10], sign * row[11], sign]
        else:
            found[0] += sign * row[10]
            found[1] += sign * row[11]
            found[2] += sign


def recharge(
    conn: Connection,
    records: Sequence[UsageRecord],
    new: set[JobKey],
    changed: set[JobKey],
    now: int,
    *,
    calendar: Calendar,
    postgres: bool,
    booked: Booked | None = None,
) -> int:
    """Replace the bookings of the new and changed records and move the rollup by the
    difference, in the caller's transaction. Returns the number of bookings written.
    ``booked``: records booked ahead, whose rows are taken for those of them that are new
    if it still :meth:`~Booked.fits`."""
    if not new and not changed:
        return 0
    ctx = load_context(conn, calendar)
    if booked is not None and booked.fits(ctx):
        rows, deltas = _take(conn, ctx, booked, records, new, changed, now, postgres)
    else:
        rows, deltas = _book(conn, ctx, records, new, changed, now, postgres)
    _insert_charges(conn, rows, now, postgres)
    _apply_rollup(conn, deltas, postgres)
    burn_windows.move(conn, deltas, now, ctx.calendar, postgres)
    return len(rows)


def _take(
    conn: Connection,
    ctx: BookingContext,
    booked: Booked,
    records: Sequence[UsageRecord],
    new: set[JobKey],
    changed: set[JobKey],
    now: int,
    postgres: bool,
) -> tuple[list[Row], dict[RollupKey, list[int]]]:
    """``_book``'s rows and deltas, with the rows booked ahead for the new records: those
    booked ahead that are not new (stored meanwhile) are taken out of the deltas, the new
    ones not booked ahead and the changed ones are booked here."""
    spans, deltas = booked.spans, booked.deltas
    if not changed and len(new) == len(spans) == len(records):
        return booked.rows, deltas  # a first pass: every record new and booked ahead
    rows: list[Row] = []
    rest: list[UsageRecord] = []
    for r in records:
        key = (r.cluster, r.job_id, r.submit)
        span = spans.get(key)
        if span is None or key not in new:
            rest.append(r)
            if span is not None:
                _add_rows(deltas, booked.rows[span[0] : span[1]], -1)
        else:
            rows += booked.rows[span[0] : span[1]]
    more, deltas = _book(conn, ctx, rest, new, changed, now, postgres, deltas)
    return rows + more, deltas


def _book(
    conn: Connection,
    ctx: BookingContext,
    records: Sequence[UsageRecord],
    new: set[JobKey],
    changed: set[JobKey],
    now: int,
    postgres: bool,
    deltas: dict[RollupKey, list[int]] | None = None,
) -> tuple[list[Row], dict[RollupKey, list[int]]]:
    """The new and changed records' rows, and the rollup deltas (added to ``deltas`` if
    given): their rows less the replaceable bookings deleted."""
    todo = [r for r in records if (key := (r.cluster, r.job_id, r.submit)) in new or key in changed]
    moment = datetime.fromtimestamp(now, UTC)
    frozen = _frozen(conn, ctx, todo)
    booker = ChunkBooker(ctx.pools, ctx.calendar, moment)
    rows: list[Row] = []
    for r in todo:
        if ctx.closed_until is None or r.start is None or r.start >= ctx.closed_until:
            rows += booker.rows(r)  # nothing of it can lie in a closed period
            continue
        booked = book(r, ctx.pools, ctx.calendar, moment)
        key = (r.cluster, r.job_id, r.submit)
        if booked or key in frozen:
            booked = settle_closed(booked, ctx.closed, frozen.get(key, {}), ctx.next_open)
        rows += map(booking_row, booked)
    deltas = {} if deltas is None else deltas
    for old in _delete_open(conn, ctx, sorted(changed), postgres):
        d = deltas.setdefault(rollup_key(old), [0, 0, 0])
        d[0] -= old.gpu_seconds
        d[1] -= old.units
        d[2] -= 1
    _add_rows(deltas, rows)
    return rows, deltas


def _frozen(
    conn: Connection, ctx: BookingContext, records: Sequence[UsageRecord]
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
    for part in chunks(keys, 300):
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
    conn: Connection, ctx: BookingContext, keys: Sequence[JobKey], postgres: bool
) -> list[Any]:
    """Delete the replaceable bookings of ``keys`` (not late, not in a closed period)."""
    gone: list[Any] = []
    returning = [C.c[name] for name in ROLLUP_KEY] + [C.c.gpu_seconds, C.c.units]
    for part in chunks(keys, 300 if not postgres else 5000):
        stmt = delete(C).where(tuple_(C.c.cluster, C.c.job_id, C.c.submit).in_(part), ~C.c.late)
        if ctx.closed:
            stmt = stmt.where(C.c.period.not_in(sorted(ctx.closed)))
        gone.extend(conn.execute(stmt.returning(*returning)).all())
    return gone


def _insert_charges(conn: Connection, rows: Sequence[Row], now: int, postgres: bool) -> None:
    if not rows:
        return
    if not postgres:
        conn.execute(
            insert(C), [dict(zip(CHARGE_COLUMNS, (*row, now), strict=True)) for row in rows]
        )
        return
    copy_rows(conn, "charges", CHARGE_COLUMNS, _CHARGE_COPY_TYPES, ((*row, now) for row in rows))


def _apply_rollup(conn: Connection, deltas: dict[RollupKey, list[int]], postgres: bool) -> None:
    """Move ``usage_daily`` and ``usage_period`` (the same without the day) by the deltas."""
    per_period: dict[tuple[Any, ...], list[int]] = {}
    for key, d in deltas.items():
        pk = key[:4] + key[5:]  # drop the day
        acc = per_period.setdefault(pk, [0, 0, 0])
        acc[0] += d[0]
        acc[1] += d[1]
        acc[2] += d[2]
    _add_to(conn, D, ROLLUP_KEY, deltas, postgres)
    _add_to(conn, P, PERIOD_KEY, per_period, postgres)


def _add_to(
    conn: Connection,
    target: Any,
    key_names: Sequence[str],
    deltas: dict[Any, list[int]],
    postgres: bool,
) -> None:
    """One upsert that adds the deltas to ``target`` (PostgreSQL: COPY them into a staging
    table first, as a chunk touches tens of thousands of rollup rows)."""
    items = [(key, d) for key, d in deltas.items() if d != [0, 0, 0]]
    if not items:
        return
    items.sort()  # a fixed order: concurrent writers lock rollup rows in the same order
    if postgres:
        _add_to_pg(conn, target, key_names, items)
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
    for part in chunks(rows, 5000):
        conn.execute(stmt, list(part))


def _add_to_pg(
    conn: Connection, target: Any, key_names: Sequence[str], items: Sequence[tuple[Any, list[int]]]
) -> None:
    """The deltas COPYed into a staging table, then added to ``target`` in one upsert."""
    names = [c.name for c in target.columns]
    staging_name = f"{target.name}_staging"
    conn.execute(
        text(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging_name} "
            f"(LIKE {target.name}) ON COMMIT DELETE ROWS"
        )
    )
    types = copy_types(target)
    copy_rows(conn, staging_name, names, types, ((*key, *d) for key, d in items))
    staging = table(staging_name, *[column(n) for n in names])
    base = pg_insert(target).from_select(names, select(*[staging.c[n] for n in names]))
    conn.execute(
        base.on_conflict_do_update(
            index_elements=list(key_names),
            set_={n: target.c[n] + base.excluded[n] for n in ("gpu_seconds", "units", "rows")},
        )
    )
