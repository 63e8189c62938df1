"""The scheduled detector of notifications: thresholds, forecasts, under-consumption, period
ends and stale ingestion. One transaction: the crossings' states move and the events are
written to the outbox together; every event has a key (``allocator.notices``), so running the
detector again (a retry, a second replica, a re-ingest of the same window) tells nothing new.
The rules are in ``accounting.alerts``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from accounting import alerts
from accounting.ingestion import IngestState
from accounting.ports import AccountingUnitOfWork
from accounting.services.burn import ProjectBurn, burn_rates
from accounting.services.closing import UNRESOLVED, live_report
from accounting.services.housekeeping import SYSTEM
from allocator.model import EntryKind, PoolKind, Project
from allocator.notices import Event, Kind, People, notices, staff
from allocator.periods import Calendar, Period
from allocator.services import chair_balances

THRESHOLDS = ((80, Kind.USAGE_80), (100, Kind.USAGE_100))


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    #: days before a period's end when unreconciled lines are told; after its end when an
    #: unclosed period is told
    period_days: int = 14
    #: seconds without a successful ingestion before a cluster is stale
    stale_seconds: int = 3600
    rule: alerts.UnderConsumptionRule = field(default_factory=alerts.UnderConsumptionRule)
    #: days before a project's end (a thesis's defence) when its PI is told
    project_end_days: int = 30


def detect(
    uow: AccountingUnitOfWork,
    now: datetime,
    calendar: Calendar,
    settings: DetectorSettings | None = None,
    ingestion: Sequence[IngestState] = (),
) -> list[Event]:
    """Write the events due now to the outbox; returns the new ones (already told: absent)."""
    settings = settings or DetectorSettings()
    period = calendar.containing(now)
    with uow:
        admins, engineers = staff(uow.users.list())
        projects = {p.id: p for p in uow.projects.list()}
        burns = burn_rates(uow, SYSTEM, now, period.label, None, calendar=calendar)
        found: list[tuple[Event, People]] = []
        usages = _usages(uow, now, calendar, period, burns, projects)
        found += _thresholds(uow, now, period, usages)
        found += _forecasts(now, period, burns, projects)
        found += _under_consumption(uow, now, calendar, settings.rule, burns, projects, admins)
        found += _periods(uow, now, calendar, settings.period_days, admins)
        found += _ingestion(now, ingestion, settings.stale_seconds, engineers)
        found += _project_endings(now, projects.values(), settings.project_end_days, admins)
        new = [event for event, people in found if uow.notices.add(notices(event, people))]
        uow.commit()
    return new


@dataclass(frozen=True, slots=True)
class Usage:
    """An account's use of its hours in one pool and period: a project's or a chair's (the sum
    of its projects')."""

    level: str  # "project" | "chair"
    id: str
    pool: str
    used: int
    allotted: int
    people: People


def _usage_params(u: Usage, period: Period) -> tuple[tuple[str, str], ...]:
    chair = () if u.level == "project" else (("chair", u.id),)
    return (
        *chair,
        ("project", u.id),  # what messages name: the project, or the chair
        ("pool", u.pool),
        ("period", period.label),
        ("used_hours", f"{u.used / 3600:.1f}"),
        ("allocated_hours", f"{u.allotted / 3600:.1f}"),
    )


def _usages(
    uow: AccountingUnitOfWork,
    now: datetime,
    calendar: Calendar,
    period: Period,
    burns: Sequence[ProjectBurn],
    projects: dict[str, Project],
) -> list[Usage]:
    """Every project's use, and every chair's: what its projects used of what it received
    (told to the PIs of its projects)."""
    out = []
    by_chair: dict[tuple[str, str], int] = {}
    for burn in burns:
        b = burn.balance
        project = projects.get(b.project_id)
        out.append(
            Usage("project", b.project_id, b.pool_id, burn.consumed, b.available, _people(project))
        )
        if project is not None:
            key = (project.chair_id, b.pool_id)
            by_chair[key] = by_chair.get(key, 0) + burn.consumed
    for chair in sorted({c for c, _ in by_chair}):
        pis = tuple(sorted({p.pi for p in projects.values() if p.chair_id == chair}))
        for cb in chair_balances(
            uow, SYSTEM, chair, None, period.label, now=now, calendar=calendar
        ):
            if (chair, cb.pool_id) in by_chair:
                used = by_chair[(chair, cb.pool_id)]
                out.append(Usage("chair", chair, cb.pool_id, used, cb.received, People(pis=pis)))
    return out


def _people(project: Project | None) -> People:
    if project is None:
        return People()
    return People(pi=project.pi, members=project.members)


def _thresholds(
    uow: AccountingUnitOfWork, now: datetime, period: Period, usages: Sequence[Usage]
) -> list[tuple[Event, People]]:
    """80 % and 100 %: a new crossing is told (its number is in the key)."""
    subjects = {
        (u.level, u.id, u.pool, pct): f"{kind.value}:{u.level}:{u.id}:{u.pool}:{period.label}"
        for u in usages
        for pct, kind in THRESHOLDS
    }
    states = uow.crossings.get(list(subjects.values()))
    out = []
    for u in usages:
        for pct, kind in THRESHOLDS:
            subject = subjects[(u.level, u.id, u.pool, pct)]
            before = states.get(subject, alerts.Crossing())
            after, fired = alerts.threshold_step(before, u.used, u.allotted, pct)
            if after != before:
                uow.crossings.put(subject, after)
            if fired:
                event = Event(
                    kind,
                    f"{subject}:{after.times}",
                    f"{u.level}:{u.id}",
                    now,
                    (*_usage_params(u, period), ("percent", str(pct))),
                    f"/portal/{u.level}s/{u.id}",
                )
                out.append((event, u.people))
    return out


def _forecasts(
    now: datetime, period: Period, burns: Sequence[ProjectBurn], projects: dict[str, Project]
) -> list[tuple[Event, People]]:
    """At the last 7 days' rate, the hours run out before the period ends: once a period."""
    out = []
    for burn in burns:
        b = burn.balance
        exhaustion = burn.burn.exhaustion
        if exhaustion is None or b.available <= 0:
            continue
        when = datetime.fromtimestamp(exhaustion, UTC)
        if alerts.exhaustion_before_end(b.remaining, burn.burn.rate_7d, now, period.end) is None:
            continue
        kind = Kind.EXHAUSTION_FORECAST
        usage = Usage("project", b.project_id, b.pool_id, burn.consumed, b.available, People())
        event = Event(
            kind,
            f"{kind.value}:project:{b.project_id}:{b.pool_id}:{period.label}",
            f"project:{b.project_id}",
            now,
            (*_usage_params(usage, period), ("exhaustion", when.isoformat(timespec="minutes"))),
            f"/portal/projects/{b.project_id}",
        )
        project = projects.get(b.project_id)
        out.append((event, People(pi=project.pi if project else "")))
    return out


def _under_consumption(
    uow: AccountingUnitOfWork,
    now: datetime,
    calendar: Calendar,
    rule: alerts.UnderConsumptionRule,
    burns: Sequence[ProjectBurn],
    projects: dict[str, Project],
    admins: tuple[str, ...],
) -> list[tuple[Event, People]]:
    """A national grant that will miss its next check date: once per check date."""
    out = []
    for pool in uow.pools.list():
        if pool.kind is not PoolKind.NATIONAL or not (pool.valid_from and pool.valid_until):
            continue
        granted = sum(
            e.amount if e.kind is EntryKind.DEPOSIT else -e.amount
            for e in uow.ledger.entries(pool_id=pool.id)
            if e.kind in (EntryKind.DEPOSIT, EntryKind.WITHDRAWAL)
        )
        used = _used_since(uow, calendar, pool.id, pool.valid_from, now)
        check = alerts.under_consumption_risk(
            granted, used, pool.valid_from, pool.valid_until, now, rule
        )
        if check is None:
            continue
        drawing = {b.balance.project_id for b in burns if b.balance.pool_id == pool.id}
        pis = sorted({projects[pid].pi for pid in drawing if pid in projects})
        date = check.at.date().isoformat()
        kind = Kind.UNDER_CONSUMPTION
        event = Event(
            kind,
            f"{kind.value}:pool:{pool.id}:{date}",
            f"pool:{pool.id}",
            now,
            (
                ("pool", pool.id),
                ("check_date", date),
                ("used_hours", f"{used / 3600:.1f}"),
                ("required_hours", f"{check.required / 3600:.1f}"),
            ),
            f"/portal/pools/{pool.id}",
        )
        out.append((event, People(pis=tuple(pis), admins=admins)))
    return out


def _used_since(
    uow: AccountingUnitOfWork, calendar: Calendar, pool_id: str, start: datetime, now: datetime
) -> int:
    """Units consumed in ``pool_id`` (final and provisional) by the periods from ``start``'s
    to ``now``'s."""
    total = 0
    period = calendar.containing(start)
    last = calendar.containing(now)
    while period.start <= last.start:
        for consumed in uow.consumption.by_project(period.label, [pool_id]).values():
            total += consumed.final + consumed.provisional
        period = calendar.next(period)
    return total


def _periods(
    uow: AccountingUnitOfWork,
    now: datetime,
    calendar: Calendar,
    days: int,
    admins: tuple[str, ...],
) -> list[tuple[Event, People]]:
    """The current period ends within ``days`` with unreconciled lines; the previous one is
    still not closed ``days`` after its end. Each once per period."""
    out = []
    people = People(admins=admins)
    current = calendar.containing(now)
    if current.end - now <= timedelta(days=days):
        report = live_report(uow, current.label)[0]
        lines = [r for r in report.rows if r.level == "project" and r.status in UNRESOLVED]
        if lines:
            out.append((_period_event(Kind.PERIOD_ENDING, current, now, len(lines)), people))
    previous = calendar.previous(current)
    if now - previous.end >= timedelta(days=days) and not uow.ledger.is_closed(previous.label):
        out.append((_period_event(Kind.PERIOD_UNCLOSED, previous, now, 0), people))
    return out


def _period_event(kind: Kind, period: Period, now: datetime, lines: int) -> Event:
    return Event(
        kind,
        f"{kind.value}:{period.label}",
        f"period:{period.label}",
        now,
        (("period", period.label), ("end", period.end.date().isoformat()), ("lines", str(lines))),
        f"/portal/periods/{period.label}",
    )


def _project_endings(
    now: datetime, projects: Iterable[Project], days: int, admins: tuple[str, ...]
) -> list[tuple[Event, People]]:
    """A project ends within ``days``: its PI (and the admins) are told, once per end date
    (an end moved later is told again); after the end its unused hours return to the chair."""
    out = []
    for project in projects:
        if project.end is None or not now < project.end <= now + timedelta(days=days):
            continue
        end = project.end.date().isoformat()
        event = Event(
            Kind.PROJECT_ENDING,
            f"{Kind.PROJECT_ENDING.value}:{project.id}:{end}",
            f"project:{project.id}",
            now,
            (("project", project.id), ("end", end), ("chair", project.chair_id)),
            f"/portal/projects/{project.id}",
        )
        out.append((event, People(pi=project.pi, admins=admins)))
    return out


def _ingestion(
    now: datetime, states: Sequence[IngestState], stale_seconds: int, engineers: tuple[str, ...]
) -> list[tuple[Event, People]]:
    """A cluster without a successful ingestion for ``stale_seconds``: once per stall (the
    last success is in the key)."""
    out = []
    epoch = int(now.timestamp())
    for state in states:
        since = state.last_success
        if since is None and state.last_attempt is None:
            continue  # never tried yet: nothing is stale
        if since is not None and epoch - since < stale_seconds:
            continue
        kind = Kind.INGESTION_STALE
        event = Event(
            kind,
            f"{kind.value}:{state.cluster}:{since or 0}",
            f"cluster:{state.cluster}",
            now,
            (
                ("cluster", state.cluster),
                ("last_success", "" if since is None else _iso(since)),
                ("error", state.last_error[:300]),
            ),
            "/portal/admin/ingestion",
        )
        out.append((event, People(engineers=engineers)))
    return out


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="minutes")
