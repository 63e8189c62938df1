"""Booking a chunk of records at once: :func:`accounting.booking.book`'s rows, as plain tuples.

Pure. The ingestion books tens of thousands of records per chunk, and most of them are alike:
one GPU type, one rate in force over the whole run (or none at all), a run within a day or
two. :class:`ChunkBooker` books such a record by arithmetic over its local days, with what it
shares with the chunk's other records worked out once: its pool (route), its billed GPUs, each
local day's bounds and period, the pool's rate table, the clock. Any other record (several GPU
types, a rate that changes or takes effect during the run, a day that a period boundary cuts)
is booked by :func:`~accounting.booking.book` itself. Both give the same rows, in the same
order: the differential tests (``tests/unit/accounting/test_chunk_booking.py``,
``tests/db/test_charging_differential.py``) hold them to the slow reference.

A row is a tuple in :class:`~accounting.booking.Booking`'s field order (:data:`Row`), with
the same rules: per local day, ``units`` floored cumulatively over the run (``M(b) // 1000 -
M(a) // 1000``), provisional when the job still runs or is clipped at ``now``, unrouted jobs
booked to pool ``""`` and unpriced parts with no units and ``priced=False``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime

from accounting.booking import UNROUTED, UNROUTED_POOL, Booking, book
from accounting.charging import (
    DAY,
    UTC_QUARTERS,
    _epoch,
    _rate_table,
    _span,
    billed_gpus,
    local_days,
    route,
)
from accounting.usage import UsageRecord
from allocator.model import MILLI, BillingMode, Pool
from allocator.periods import Calendar

__all__ = ["ChunkBooker", "Row", "booking_row"]

#: A booking as a tuple, in :class:`~accounting.booking.Booking`'s field order: cluster,
#: job_id, submit, account, pool_id, period, origin_period, day, gpu_type, rate_milli,
#: gpu_seconds, units, provisional, late, priced.
Row = tuple[str, int, int, str, str, str, str, int, str, int, int, int, bool, bool, bool]


def booking_row(b: Booking) -> Row:
    """A :class:`Booking` as a :data:`Row`."""
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
    )


class ChunkBooker:
    """The rows of many records booked to ``pools`` at ``now``, in ``calendar``'s periods and
    local days: ``rows(record) == [booking_row(b) for b in book(record, pools, calendar,
    now)]`` for every record."""

    def __init__(
        self, pools: Sequence[Pool], calendar: Calendar = UTC_QUARTERS, now: datetime | None = None
    ) -> None:
        self.pools = list(pools)
        self.calendar = calendar
        self.now = now
        self._now = None if now is None else _epoch(now)
        self._days = local_days(calendar)
        #: Pools valid only for a while route by the job's start: no routing per partition.
        self._dated = any(p.valid_from is not None or p.valid_until is not None for p in pools)
        self._routes: dict[tuple[str, str], str | None] = {}
        self._by_id: dict[str, Pool] = {}
        for p in self.pools:
            self._by_id.setdefault(p.id, p)
        self._billed: dict[tuple[object, ...], tuple[tuple[str, int], ...]] = {}
        #: local day -> (its start, its end, its period), or None when a period starts
        #: inside it
        self._day_info: dict[int, tuple[int, int, str] | None] = {}

    def rows(self, record: UsageRecord) -> list[Row]:
        """What :func:`~accounting.booking.book` books for ``record``, as :data:`Row`\\ s."""
        start = record.start
        if start is None or record.gpus <= 0 or record.elapsed <= 0:
            return []
        pool_id = self._route(record, start)
        pool = self._by_id[pool_id] if pool_id is not None else UNROUTED_POOL
        gpus = self._billed_gpus(record, pool)
        if len(gpus) != 1:
            return self._slow(record)
        ((gpu_type, count),) = gpus
        finish = start + record.elapsed
        clipped = False
        if self._now is not None and self._now < finish:
            finish, clipped = self._now, True
        if finish <= start:
            return []
        rate, priced = 0, False
        if pool_id is not None:
            epochs, rates = _rate_table(pool).get(gpu_type, ([], []))
            found = bisect_right(epochs, start) - 1
            if found + 1 < len(epochs) and epochs[found + 1] < finish:
                return self._slow(record)  # a rate takes effect during the run
            if found >= 0:
                rate, priced = rates[found], True
        return self._by_day(
            record,
            UNROUTED if pool_id is None else pool_id,
            gpu_type,
            count,
            rate,
            priced,
            (start, finish, clipped or not record.final),
        )

    # --- the shared work ----------------------------------------------------------------------

    def _route(self, record: UsageRecord, start: int) -> str | None:
        if self._dated:
            return route(
                self.pools, record.cluster, record.partition, at=datetime.fromtimestamp(start, UTC)
            )
        key = (record.cluster, record.partition)
        try:
            return self._routes[key]
        except KeyError:
            found = self._routes[key] = route(self.pools, record.cluster, record.partition)
            return found

    def _billed_gpus(self, record: UsageRecord, pool: Pool) -> tuple[tuple[str, int], ...]:
        if pool.billing_mode is BillingMode.RESERVED:
            return billed_gpus(record, pool)
        key = (pool.id, record.cluster, record.partition, record.gpus, record.gpus_by_type)
        found = self._billed.get(key)
        if found is None:
            found = self._billed[key] = billed_gpus(record, pool)
        return found

    def _day(self, day: int) -> tuple[int, int, str] | None:
        try:
            return self._day_info[day]
        except KeyError:
            labels, _starts, _midnights = _span(day, day, self._days)
            info = None
            if len(labels) == 1:
                info = (self._days.start(day), self._days.start(day + 1), labels[0])
            self._day_info[day] = info
            return info

    def _by_day(
        self,
        record: UsageRecord,
        pool_id: str,
        gpu_type: str,
        count: int,
        rate: int,
        priced: bool,
        run: tuple[int, int, bool],
    ) -> list[Row]:
        """One row per local day of the run ``[begin, finish)`` at one rate."""
        begin, finish, provisional = run
        days = self._days
        if days.utc:
            first, last = begin // DAY, (finish - 1) // DAY
        else:
            first, last = days.of(begin), days.of(finish - 1)
        out: list[Row] = []
        accrued = 0  # exact milli-units from ``begin``
        cluster, job_id, submit, account = (
            record.cluster,
            record.job_id,
            record.submit,
            record.account,
        )
        for day in range(first, last + 1):
            info = self._day(day)
            if info is None:
                return self._slow(record)  # a period starts inside the day
            _day_start, day_end, label = info
            a = begin if day == first else _day_start
            b = finish if day == last else day_end
            seconds = count * (b - a)
            before, accrued = accrued, accrued + seconds * rate
            out.append(
                (
                    cluster,
                    job_id,
                    submit,
                    account,
                    pool_id,
                    label,
                    label,
                    day,
                    gpu_type,
                    rate,
                    seconds,
                    accrued // MILLI - before // MILLI,
                    provisional,
                    False,
                    priced,
                )
            )
        return out

    def _slow(self, record: UsageRecord) -> list[Row]:
        return [booking_row(b) for b in book(record, self.pools, self.calendar, self.now)]
