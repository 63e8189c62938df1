"""What a job costs, and to which period and pool it is charged.

Pure: integer arithmetic on :class:`~accounting.usage.UsageRecord` and
:class:`~allocator.model.Pool`; no I/O. Amounts follow the allocator: ``gpu_seconds`` are
billed GPUs x seconds, ``units`` are the pool's unit-seconds (``gpu_seconds x rate_milli //
1000``; 3600 of them are one hour of the pool's unit, e.g. one normalised GPU hour).

Routing
    A job draws from the pool whose route names its ``(cluster, partition)``; failing that, the
    pool with a cluster-wide route ``(cluster, "")``. Two pools on the same level is a
    configuration error (:class:`AmbiguousRoute`), never a silent pick.

Billed GPUs (per GPU type, untyped GPUs are type ``""``)
    ``allocated`` pools bill the GPUs the job was given. ``reserved`` pools (Jean Zay style)
    bill what the job kept others from using, from the partition's :class:`NodeShape`:

    * on an 8-GPU node with 64 CPUs and 512 000 MB, a job asking 1 GPU, 32 CPUs (50 %) and
      64 000 MB (12.5 %) is billed max(1, ceil(8 x 0.5), ceil(8 x 0.125)) = **4 GPUs**; with
      10 CPUs (15.6 %) it is billed ceil(8 x 10/64) = ceil(1.25) = **2 GPUs**;
    * an exclusive job (all 64 CPUs of its node) asking 1 GPU is billed the whole node:
      **8 GPUs**;
    * every multi-node job bills whole nodes: a 2-node job asking 2 GPUs per node is billed
      2 x 8 = **16 GPUs**, whatever it asked;
    * reserved billing never bills less than was allocated; a partition without a node shape
      is billed as allocated; a job whose node count is not reported counts as one node.

    Extra GPUs go to the job's GPU types in proportion to its allocation, by largest
    remainder (ties: larger allocation, then type name), so the per-type counts sum exactly
    to the billed total and each type gets at least what it was allocated. A job with 1 A100
    and 2 H100 billed 8 GPUs: shares 8/3 = 2.67 and 16/3 = 5.33, floors 2 + 5 = 7, the spare
    GPU goes to the larger remainder (A100) -> **A100 3, H100 5**. (A job has a single type
    in practice; a node has one kind of GPU.)

Run interval: ``[start, start + elapsed)``
    Slurm's ``elapsed`` excludes suspended time and is reported for running jobs too, where
    ``end`` is not set; ``end - start`` would bill suspensions. The price is an approximation:
    the run is taken as contiguous from ``start``, so a suspended job's seconds are placed as
    if the suspension came last. A running (not final) job accrues up to the ``elapsed``
    reported, with no extrapolation, and its charges are ``provisional``: recompute them from
    the newer record (same key) and replace, never add. Given ``now``, no second after it is
    charged (a record ahead of the clock) and a clipped charge is provisional too.

Splitting and rounding
    The interval is cut at period boundaries (local midnights, see below) and at the instants
    the GPU type's rate changes
    (a rate effective at a fractional second applies from the next whole second, as
    :meth:`Pool.rate_at` would say for that second); each part is charged at the rate in force
    at its start. Units are floored once for the whole job and type, never per part: with
    ``M(t)`` the exact milli-units accrued up to ``t``, a part ``[a, b)`` gets
    ``M(b) // 1000 - M(a) // 1000``, so the parts sum exactly to ``M(end) // 1000``.

    * A 2-GPU A100 job at rate 2 starting 23:00 on 31 Dec 2026 and running 3 h: 2026Q4 gets
      2 x 1 h = 7 200 GPU-s -> 14 400 units (4 normalised GPU h), 2027Q1 gets
      2 x 2 h = 14 400 GPU-s -> 28 800 units (8 h); the whole job: 21 600 GPU-s, 43 200 units.
    * A 4-GPU A100 job from 22:00 on 31 Jan 2027 for 4 h, where the rate goes from 2 to 2.5 at
      midnight: 2027Q1 gets two charges, 28 800 GPU-s at 2 -> 57 600 units and 28 800 GPU-s at
      2.5 -> 72 000 units. Jobs that ended before the change keep their charges.
    * A 1-GPU job at rate 0.5 running 1 s each side of a quarter boundary: exactly 1 unit.
      Flooring each part would give 0 + 0 and lose it; the cumulative floor gives the first
      quarter 0 and the second 1.

Periods and days in the site's time zone
    Periods and days are those of the site's :class:`~allocator.periods.Calendar`: they begin
    at local midnight of its IANA zone, as ``sreport`` and the national centre count. Day
    numbers (``Charge.day``, the daily rollups, burn rates) are local days since 1970-01-01;
    in UTC they are ``seconds // 86400``. A local day lasts 24 hours, or 23 and 25 on the days
    daylight saving time begins and ends; nothing assumes 86 400 s. With ``Europe/Paris``:

    * 2027Q1 begins at midnight in Paris, ``2026-12-31 23:00 UTC`` (UTC+1 in winter). A 1-GPU
      job running 22:30-23:30 UTC on 31 December 2026 books **1 800 GPU-s in 2026Q4 and
      1 800 GPU-s in 2027Q1** (in UTC the whole hour would be 2026Q4's). 2026Q4 itself begins
      at ``2026-09-30 22:00 UTC`` (UTC+2 in summer): it lasts 92 days and 1 hour.
    * 29 March 2026 (clocks go 02:00 -> 03:00) lasts 23 hours, from ``03-28 23:00 UTC`` to
      ``03-29 22:00 UTC``: a 2-GPU job running from the Saturday noon to the Monday noon, local
      time, books 2 x 12 h, **2 x 23 h = 165 600 GPU-s** and 2 x 12 h on its three days.
    * 25 October 2026 (03:00 -> 02:00) lasts 25 hours, from ``10-24 22:00 UTC`` to
      ``10-25 23:00 UTC``: the same job books **2 x 25 h = 180 000 GPU-s** on that Sunday.

    Each local midnight is one more cut: the cumulative floor above still gives the job's
    parts exactly its whole charge (property-tested at local boundaries, DST days included).

Charges for records that never started, have no GPUs or no elapsed time: none.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import NamedTuple

from accounting.errors import AccountingError
from accounting.usage import UsageRecord
from allocator.model import MILLI, BillingMode, NodeShape, Pool
from allocator.periods import Calendar, require_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Seconds in a UTC day (a local day lasts 23, 24 or 25 hours).
DAY = 86400
#: The calendar of a site that sets none: quarters, UTC.
UTC_QUARTERS = Calendar()
#: Zones whose days are UTC days (the arithmetic fast path).
_UTC_NAMES = frozenset(
    {
        "UTC",
        "Etc/UTC",
        "Etc/UCT",
        "UCT",
        "Etc/Universal",
        "Universal",
        "Etc/Zulu",
        "Zulu",
        "GMT",
        "Etc/GMT",
        "Etc/GMT+0",
        "Etc/GMT-0",
        "Etc/GMT0",
        "GMT0",
        "GMT+0",
        "GMT-0",
        "Etc/Greenwich",
        "Greenwich",
    }
)


class RateNotFound(AccountingError):
    """The pool has no rate for a GPU type at a moment a job used it."""

    def __init__(self, pool_id: str, gpu_type: str, at: datetime) -> None:
        kind = repr(gpu_type) if gpu_type else "untyped GPUs ('')"
        super().__init__(
            f"pool {pool_id!r} has no rate for {kind} in force at {at.isoformat()}",
            field="gpu_type",
        )
        self.pool_id = pool_id
        self.gpu_type = gpu_type
        self.at = at


class AmbiguousRoute(AccountingError):
    """Several pools claim the same ``(cluster, partition)`` with the same precedence."""

    def __init__(self, cluster: str, partition: str, pool_ids: Sequence[str]) -> None:
        super().__init__(
            f"jobs on cluster {cluster!r}, partition {partition!r} are routed to several "
            f"pools: {', '.join(sorted(pool_ids))}",
            field="routes",
        )
        self.cluster = cluster
        self.partition = partition
        self.pool_ids = tuple(sorted(pool_ids))


@dataclass(frozen=True, slots=True)
class Charge:
    """One part of a job's charge: one period, one GPU type, one rate.

    ``[start, end)`` (epoch seconds) is the part of the run it covers; ``gpu_seconds`` is the
    billed GPUs of the type x ``end - start``; ``units`` its cost in pool unit-seconds at
    ``rate_milli``. ``provisional`` charges will change (the job still runs). ``day`` is the
    local day (days since 1970-01-01 in the calendar's zone) in which the part begins.
    """

    period: str
    gpu_type: str
    gpu_seconds: int
    units: int
    provisional: bool
    start: int
    end: int
    rate_milli: int
    day: int


class Totals(NamedTuple):
    gpu_seconds: int
    units: int


# --- routing -----------------------------------------------------------------------------


def route(
    pools: Iterable[Pool], cluster: str, partition: str, *, at: datetime | None = None
) -> str | None:
    """The id of the pool jobs on ``(cluster, partition)`` draw from, ``None`` if unrouted.

    A route naming the partition wins over a cluster-wide one (partition ``""``). With ``at``
    (e.g. the job's start), only pools valid at that moment are considered, so successive
    grants may route the same cluster. Raises :class:`AmbiguousRoute` when two pools tie.
    """
    moment = None if at is None else require_utc(at, "at")
    exact: set[str] = set()
    wide: set[str] = set()
    for pool in pools:
        if moment is not None and not _valid_at(pool, moment):
            continue
        for r in pool.routes:
            if r.cluster != cluster:
                continue
            if r.partition == "":
                wide.add(pool.id)
            elif r.partition == partition:
                exact.add(pool.id)
    for found in (exact, wide):
        if len(found) > 1:
            raise AmbiguousRoute(cluster, partition, sorted(found))
        if found:
            return next(iter(found))
    return None


def _valid_at(pool: Pool, moment: datetime) -> bool:
    if pool.valid_from is not None and moment < pool.valid_from:
        return False
    return pool.valid_until is None or moment < pool.valid_until


# --- billed GPUs ---------------------------------------------------------------------------


def _allocated(record: UsageRecord) -> dict[str, int]:
    """GPUs per type as :meth:`UsageRecord.gpu_seconds_by_type` counts them (repeats merged)."""
    if record.start is None or record.gpus <= 0:
        return {}
    typed: dict[str, int] = {}
    for name, count in record.gpus_by_type:
        if count > 0:
            typed[name] = typed.get(name, 0) + count
    covered = sum(typed.values())
    if covered < record.gpus:
        typed[""] = typed.get("", 0) + record.gpus - covered
    return typed


def _ceil_div(num: int, den: int) -> int:
    return -(-num // den)


def _reserved_total(record: UsageRecord, shape: NodeShape, allocated: int) -> int:
    nodes = max(1, record.alloc_nodes)
    exclusive = shape.cpus > 0 and record.alloc_cpus >= nodes * shape.cpus
    if record.alloc_nodes > 1 or exclusive:
        return max(allocated, shape.gpus * nodes)
    by_cpu = _ceil_div(shape.gpus * record.alloc_cpus, shape.cpus) if shape.cpus > 0 else 0
    by_mem = _ceil_div(shape.gpus * record.alloc_mem_mb, shape.mem_mb) if shape.mem_mb > 0 else 0
    return max(allocated, min(shape.gpus, max(by_cpu, by_mem)))


def _apportion(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Split ``total`` in proportion to ``weights`` by largest remainder; sums to ``total``."""
    whole = sum(weights.values())
    shares = {name: total * w // whole for name, w in weights.items()}
    spare = total - sum(shares.values())
    order = sorted(weights, key=lambda n: (-(total * weights[n] % whole), -weights[n], n))
    for name in order[:spare]:
        shares[name] += 1
    return shares


def untyped_as(pool: Pool, cluster: str, partition: str) -> str:
    """The GPU type the pool's route gives the untyped GPUs of ``(cluster, partition)``."""
    wide = ""
    for r in pool.routes:
        if r.cluster != cluster:
            continue
        if r.partition == partition and r.partition:
            return r.gpu_type
        if r.partition == "":
            wide = r.gpu_type
    return wide


def billed_gpus(record: UsageRecord, pool: Pool) -> tuple[tuple[str, int], ...]:
    """GPUs billed per GPU type (``""`` = untyped), sorted by type; see the module docstring.

    Untyped GPUs take the type the pool's route names for the job's partition, if any.
    Empty for records that never started or have no GPUs.
    """
    allocated = _allocated(record)
    if not allocated:
        return ()
    if "" in allocated and (named := untyped_as(pool, record.cluster, record.partition)):
        untyped = allocated.pop("")
        allocated[named] = allocated.get(named, 0) + untyped
    shape = dict(pool.node_shapes).get(record.partition)
    if pool.billing_mode is BillingMode.RESERVED and shape is not None:
        total = _reserved_total(record, shape, sum(allocated.values()))
        allocated = _apportion(total, allocated)
    return tuple(sorted(allocated.items()))


# --- charges -------------------------------------------------------------------------------


def _epoch(moment: datetime) -> int:
    """Epoch seconds of an aware datetime, rounded up to the next whole second."""
    delta = require_utc(moment) - _EPOCH
    return delta.days * 86400 + delta.seconds + (1 if delta.microseconds else 0)


def _moment(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


class LocalDays:
    """A calendar's local midnights as epoch seconds, cached: the charging hot path asks for
    the same few days again and again. Day ``d`` is the calendar's local day number (days since
    1970-01-01 in the site's zone, :meth:`Calendar.day_of`); in UTC it is ``seconds // 86400``
    and no table is kept."""

    __slots__ = ("_starts", "calendar", "utc")

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self._starts: dict[int, int] = {}
        self.utc = calendar.zone_name in _UTC_NAMES

    def start(self, day: int) -> int:
        """The epoch second at which local day ``day`` begins."""
        if self.utc:
            return day * DAY
        found = self._starts.get(day)
        if found is None:
            found = self._starts[day] = _epoch(self.calendar.day_start(day))
        return found

    def of(self, seconds: int) -> int:
        """The local day of an epoch second."""
        if self.utc:
            return seconds // DAY
        day = seconds // DAY  # a zone is less than a day away from UTC: d - 1, d or d + 1
        if seconds >= self.start(day + 1):
            return day + 1
        return day if seconds >= self.start(day) else day - 1

    def midnights(self, first: int, last: int) -> list[int]:
        """The starts of local days ``first + 1 .. last``: the midnights inside days
        ``first .. last``."""
        if self.utc:
            return list(range((first + 1) * DAY, (last + 1) * DAY, DAY))
        return [self.start(day) for day in range(first + 1, last + 1)]


@lru_cache(maxsize=64)
def local_days(calendar: Calendar) -> LocalDays:
    """The (shared, cached) :class:`LocalDays` of ``calendar``."""
    return LocalDays(calendar)


@lru_cache(maxsize=4096)
def _span(
    first_day: int, last_day: int, days: LocalDays
) -> tuple[tuple[str, ...], list[int], tuple[int, ...]]:
    """Labels and start instants (epoch seconds) of the periods meeting local days
    ``first_day`` to ``last_day``, and the midnights between those days; cached, as most jobs
    of a chunk share their days."""
    calendar = days.calendar
    periods = list(
        calendar.between(_moment(days.start(first_day)), _moment(days.start(last_day + 1)))
    )
    labels = tuple(p.label for p in periods)
    return labels, [_epoch(p.start) for p in periods], tuple(days.midnights(first_day, last_day))


#: A pool's rates by GPU type: the instants (epoch seconds, rounded up) they take effect,
#: and their rates, in the order ``Pool.rate_at`` prefers them (by ``effective_from``, then
#: as listed): the rate in force at second ``a`` is the last whose instant is ``<= a``.
RateTable = dict[str, tuple[list[int], list[int]]]
_NO_RATES: tuple[list[int], list[int]] = ([], [])
#: ``id(pool) -> (pool, its table)``: the pools of a chunk are few and charged again and
#: again (the pool is kept, so its id is not reused while it is here).
_TABLES: dict[int, tuple[Pool, RateTable]] = {}


def _rate_table(pool: Pool) -> RateTable:
    found = _TABLES.get(id(pool))
    if found is not None and found[0] is pool:
        return found[1]
    table: RateTable = {}
    for rate in sorted(pool.rates, key=lambda r: r.effective_from):  # stable: ties as listed
        epochs, rates = table.setdefault(rate.gpu_type, ([], []))
        epochs.append(_epoch(rate.effective_from))
        rates.append(rate.rate_milli)
    if len(_TABLES) >= 256:
        _TABLES.clear()
    _TABLES[id(pool)] = (pool, table)
    return table


def charge(
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
    table = _rate_table(pool)
    for gpu_type, count in gpus:
        cuts = {begin, finish, *period_starts[1:]}
        if split_days:
            cuts.update(midnights)
        epochs, rates = table.get(gpu_type, _NO_RATES)
        cuts.update(at for at in epochs if begin < at < finish)
        points = sorted(cuts)
        accrued = 0  # exact milli-units from ``begin``
        pieces: list[Charge] = []
        for a, b in pairwise(points):
            found = bisect_right(epochs, a) - 1  # the rate in force at ``a``: Pool.rate_at
            if found < 0:
                raise RateNotFound(pool.id, gpu_type, _moment(a))
            rate = rates[found]
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


def sum_charges(charges: Iterable[Charge]) -> dict[tuple[str, str], Totals]:
    """GPU-seconds and units per ``(period, gpu_type)``, e.g. to debit balances."""
    totals: dict[tuple[str, str], Totals] = {}
    for c in charges:
        seconds, units = totals.get((c.period, c.gpu_type), Totals(0, 0))
        totals[(c.period, c.gpu_type)] = Totals(seconds + c.gpu_seconds, units + c.units)
    return totals
