"""The charging of one record as it was before issue 17 (one ``Pool.rate_at`` per piece, each
rate's instant converted per job): the slow reference the faster :func:`accounting.charging.charge`
is checked against (``test_charging_differential.py``). Not used by the service."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from itertools import pairwise

from accounting.charging import (
    DAY,
    UTC_QUARTERS,
    Charge,
    RateNotFound,
    _epoch,
    _moment,
    _span,
    billed_gpus,
    local_days,
)
from accounting.errors import AccountingError
from accounting.usage import UsageRecord
from allocator.model import MILLI, Pool
from allocator.periods import Calendar


def reference_charge(
    record: UsageRecord,
    pool: Pool,
    calendar: Calendar = UTC_QUARTERS,
    now: datetime | None = None,
    *,
    split_days: bool = False,
) -> list[Charge]:
    """The charges of one record to ``pool``, by period, GPU type and rate, in time order.

    Periods are ``calendar``'s (its scheme, cut at its local midnights). With ``split_days``
    the parts are also cut at every local midnight, so that each charge lies within one local
    day (``Charge.day``): what the daily rollups and burn rates need. The cumulative floor is
    the same, so the parts still sum to the same job total.

    Raises :class:`RateNotFound` if a billed GPU type has no rate in force for part of the run.
    """
    if record.elapsed < 0:
        raise AccountingError(
            f"job {record.job_id}: elapsed must not be negative ({record.elapsed})",
            field="elapsed",
        )
    gpus = billed_gpus(record, pool)
    if record.start is None or not gpus or record.elapsed == 0:
        return []
    begin = record.start
    finish = begin + record.elapsed
    clipped = False
    if now is not None and _epoch(now) < finish:
        finish, clipped = _epoch(now), True
    if finish <= begin:
        return []
    provisional = clipped or not record.final

    days = local_days(calendar)
    if days.utc:
        first_day, last_day = begin // DAY, (finish - 1) // DAY
    else:
        first_day, last_day = days.of(begin), days.of(finish - 1)
    labels, period_starts, midnights = _span(first_day, last_day, days)
    charges: list[Charge] = []
    for gpu_type, count in gpus:
        cuts = {begin, finish, *period_starts[1:]}
        if split_days:
            cuts.update(midnights)
        cuts.update(
            at
            for rate in pool.rates
            if rate.gpu_type == gpu_type and begin < (at := _epoch(rate.effective_from)) < finish
        )
        points = sorted(cuts)
        accrued = 0  # exact milli-units from ``begin``
        pieces: list[Charge] = []
        for a, b in pairwise(points):
            rate = pool.rate_at(gpu_type, _moment(a))
            if rate is None:
                raise RateNotFound(pool.id, gpu_type, _moment(a))
            label = labels[bisect_right(period_starts, a) - 1]
            day = first_day + bisect_right(midnights, a)
            before, accrued = accrued, accrued + count * (b - a) * rate
            units = accrued // MILLI - before // MILLI
            last = pieces[-1] if pieces else None
            if (
                last is not None
                and last.period == label
                and last.rate_milli == rate
                and (not split_days or last.day == day)
            ):
                pieces[-1] = Charge(
                    label,
                    gpu_type,
                    last.gpu_seconds + count * (b - a),
                    last.units + units,
                    provisional,
                    last.start,
                    b,
                    rate,
                    last.day,
                )
            else:
                pieces.append(
                    Charge(label, gpu_type, count * (b - a), units, provisional, a, b, rate, day)
                )
        charges.extend(pieces)
    charges.sort(key=lambda c: (c.start, c.gpu_type))
    return charges
