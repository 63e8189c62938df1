"""Booking: the rows of the charges journal a usage record produces, closed periods included.

Pure. :func:`book` turns one :class:`~accounting.usage.UsageRecord` into :class:`Booking` rows:
the record's :func:`~accounting.charging.charge` to the pool its ``(cluster, partition)``
routes to, cut by period, GPU type, rate **and local day** of the site's calendar (for the
daily rollups and the burn rates). Storage keeps, per record key, exactly the rows of its
latest version; a newer version of the record replaces them (never adds), so re-ingesting
changes nothing.

What cannot be priced is still counted
    A job no pool routes is booked to pool ``""`` with its GPU-seconds and no units; a part of a
    run for which the pool has no rate of that GPU type is booked with ``priced=False`` and no
    units. Reports show both as such, instead of dropping GPU-seconds or failing the ingest.

Closed periods are final (:func:`settle_closed`)
    Rows booked in a closed period never change again. When a record's charges in a closed
    period differ from what was booked there (a job that arrived late, or a running job whose
    final record arrived after the close), the **difference** is booked as a *late* row in the
    first open period after it, with ``origin_period`` naming the closed one and the job key
    linking it to its job. Late rows are append-only: the next difference is computed against
    everything booked so far for that origin, so they converge on the job's true charge.

    Example: 2026Q3 is closed with job 42 booked for 7 200 GPU-s (it was running). Its final
    record says 10 800 GPU-s in 2026Q3: a late row of +3 600 GPU-s is booked in 2026Q4 (origin
    2026Q3); 2026Q3's report is unchanged, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache

from accounting.charging import UTC_QUARTERS, Charge, RateNotFound, charge, route
from accounting.usage import UsageRecord
from allocator.model import MILLI, Pool, PoolKind, Rate
from allocator.periods import Calendar

__all__ = ["UNROUTED", "UNROUTED_POOL", "Booking", "JobKey", "Totals3", "book", "settle_closed"]

JobKey = tuple[str, int, int]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Pool id of jobs that no pool routes.
UNROUTED = ""


@dataclass(frozen=True, slots=True)
class Booking:
    """One row of the charges journal.

    ``period`` is where the row counts; ``origin_period`` the period the usage happened in
    (they differ only for ``late`` rows). ``day`` is the local day of the usage (days since
    1970-01-01 in the site's time zone; epoch days in UTC).
    """

    cluster: str
    job_id: int
    submit: int
    account: str
    pool_id: str
    period: str
    origin_period: str
    day: int
    gpu_type: str
    rate_milli: int
    gpu_seconds: int
    units: int
    provisional: bool
    late: bool = False
    priced: bool = True

    @property
    def key(self) -> JobKey:
        return (self.cluster, self.job_id, self.submit)


#: (gpu_seconds, units) per (origin_period, pool_id, account, gpu_type).
Totals3 = Mapping[tuple[str, str, str, str], tuple[int, int]]


def _unpriced_pool(pool: Pool, record: UsageRecord) -> Pool:
    """``pool`` with a zero rate from the epoch for every GPU type: parts of a run that the
    pool has no rate for are then charged 0 units instead of failing."""
    types = {t for t, _ in record.gpus_by_type} | {""} | {r.gpu_type for r in pool.routes}
    return _padded(pool, tuple(sorted(types)))


@lru_cache(maxsize=1024)
def _padded(pool: Pool, types: tuple[str, ...]) -> Pool:
    """``pool`` with a zero rate from the epoch for each of ``types`` (cached: the jobs of a
    chunk share a few pools and GPU types, and a new pool per job is most of their cost)."""
    extra = tuple(Rate(t, 0, _EPOCH) for t in types)
    return replace(pool, rates=(*extra, *pool.rates))


#: The pool of jobs no pool routes (their GPU-seconds kept, no units).
UNROUTED_POOL = Pool(id=UNROUTED, name="unrouted", kind=PoolKind.LOCAL, unit="gpu-hours")


def _rows(
    record: UsageRecord, pool_id: str, charges: Iterable[Charge], unpriced: Callable[[Charge], bool]
) -> list[Booking]:
    return [
        Booking(
            record.cluster,
            record.job_id,
            record.submit,
            record.account,
            pool_id,
            c.period,
            c.period,
            c.day,
            c.gpu_type,
            c.rate_milli,
            c.gpu_seconds,
            c.units,
            c.provisional,
            priced=not unpriced(c),
        )
        for c in charges
    ]


def book(
    record: UsageRecord,
    pools: Sequence[Pool],
    calendar: Calendar = UTC_QUARTERS,
    now: datetime | None = None,
) -> list[Booking]:
    """The rows one record books, before closed periods are settled (see :func:`settle_closed`).

    Raises :class:`~accounting.charging.AmbiguousRoute` when two pools claim the job's
    partition (a configuration error the caller reports).
    """
    if record.start is None or record.gpus <= 0 or record.elapsed <= 0:
        return []
    started = datetime.fromtimestamp(record.start, UTC)
    pool_id = route(pools, record.cluster, record.partition, at=started)
    if pool_id is None:
        # Unrouted: GPU-seconds kept, no pool, no units.
        charges = charge(
            record, _unpriced_pool(UNROUTED_POOL, record), calendar, now, split_days=True
        )
        return _rows(record, UNROUTED, charges, lambda _c: True)
    pool = next(p for p in pools if p.id == pool_id)
    try:
        return _rows(
            record, pool_id, charge(record, pool, calendar, now, split_days=True), lambda _c: False
        )
    except RateNotFound:
        padded = _unpriced_pool(pool, record)
        charges = charge(record, padded, calendar, now, split_days=True)

        def unpriced(c: Charge) -> bool:
            return pool.rate_at(c.gpu_type, datetime.fromtimestamp(c.start, UTC)) is None

        return _rows(record, pool_id, charges, unpriced)


def settle_closed(
    rows: Sequence[Booking],
    closed: frozenset[str],
    booked: Totals3,
    next_open: Callable[[str], str],
) -> list[Booking]:
    """Rows of one record after closed periods are settled.

    ``booked`` holds what is already booked for the record per ``(origin_period, pool,
    account, gpu_type)`` for closed origins (frozen rows and earlier late rows together).
    Rows in open periods pass unchanged; rows in closed periods are replaced by one late row
    per group carrying the difference, booked in ``next_open(origin_period)``. Differences
    of zero book nothing; a group booked before and absent now is booked back as a negative
    late row (when the record still has rows to take its job key from).
    """
    kept = [r for r in rows if r.period not in closed]
    if not closed:
        return kept
    new: dict[tuple[str, str, str, str], tuple[int, int, Booking]] = {}
    for r in rows:
        if r.period in closed:
            k = (r.period, r.pool_id, r.account, r.gpu_type)
            s, u, _ = new.get(k, (0, 0, r))
            new[k] = (s + r.gpu_seconds, u + r.units, r)
    template = rows[0] if rows else None
    for k in sorted(set(new) | {k for k in booked if k[0] in closed}):
        s_new, u_new, last = new.get(k, (0, 0, template))
        s_old, u_old = booked.get(k, (0, 0))
        if (s_new, u_new) == (s_old, u_old) or last is None:
            continue
        origin, pool_id, account, gpu_type = k
        seconds, units = s_new - s_old, u_new - u_old
        kept.append(
            Booking(
                last.cluster,
                last.job_id,
                last.submit,
                account,
                pool_id,
                next_open(origin),
                origin,
                last.day,
                gpu_type,
                units * MILLI // seconds if seconds else 0,
                seconds,
                units,
                provisional=False,
                late=True,
                priced=last.priced,
            )
        )
    return kept
