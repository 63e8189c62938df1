"""Scheduled accounting work besides ingestion: rollup check, period-end reminders, auto-close.

Each function is one use-case call that the scheduler runs on the leader only
(``connectors.scheduler``); each is safe to run again (idempotent) and leaves an audit event
when it changes something or tells someone something.

``check_rollups``
    The rollups are kept in step by the ingest transaction; this daily job *verifies* it for the
    recent days (``usage_daily`` and ``usage_period`` against ``charges``), repairs a drifted
    row from the journal if one is ever found (and says so in the audit log), and prunes rows
    that netted to zero.
``remind``
    ``remind_days`` before the current period ends: one reminder per period (audit event
    ``period.reminder``) naming the projects that have used less than half of their allocation;
    after a period ended and while it is not closed: one ``period.unclosed`` reminder per day.
``auto_close``
    Off by default (``GPUHOURS_AUTO_CLOSE_DAYS``). When set, a period is closed that many days
    after its end, but only if its reconciliation has no unresolved line (``force`` is never
    used: a difference waits for an administrator). Unused hours follow each pool's policy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select

from accounting.charging import UTC_QUARTERS, local_days
from allocator.model import AuditEvent, Role, User
from allocator.periods import Calendar, Period
from connectors.db import tables as t
from connectors.db.uow import SqlUnitOfWork
from connectors.db.usage_store import PERIOD_KEY, ROLLUP_KEY
from connectors.quarter import UNRESOLVED, close_period, report

log = logging.getLogger(__name__)
SYSTEM = User("gpuhours-scheduler", Role.ADMIN)


def _journal_sums(
    conn: Connection, names: Sequence[str], *where: Any
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """``charges`` summed by the columns ``names``: (GPU-seconds, units, rows) per key."""
    C = t.ChargeRow
    key = [getattr(C, name) for name in names]
    query = select(*key, func.sum(C.gpu_seconds), func.sum(C.units), func.count())
    return {
        tuple(r[:-3]): (int(r[-3]), int(r[-2]), int(r[-1]))
        for r in conn.execute(query.where(*where).group_by(*key))
    }


def _rows(
    names: Sequence[str], sums: dict[tuple[Any, ...], tuple[int, int, int]]
) -> list[dict[str, Any]]:
    return [
        {**dict(zip(names, k, strict=True)), "gpu_seconds": v[0], "units": v[1], "rows": v[2]}
        for k, v in sums.items()
    ]


def check_rollups(
    engine: Engine, now: datetime, days: int = 3, calendar: Calendar = UTC_QUARTERS
) -> int:
    """Verify (and repair) the daily and period rollups of the last ``days`` local days of
    ``calendar``; prune zero rows. Returns the number of rows repaired."""
    C, D, P = t.ChargeRow, t.UsageDailyRow, t.UsagePeriodRow
    since = local_days(calendar).of(int(now.timestamp())) - days
    repaired = 0
    with engine.begin() as conn:
        truth = _journal_sums(conn, ROLLUP_KEY, C.day >= since)
        stored = {
            tuple(r[:-3]): tuple(r[-3:])
            for r in conn.execute(
                select(*[getattr(D, n) for n in ROLLUP_KEY], D.gpu_seconds, D.units, D.rows).where(
                    D.day >= since
                )
            )
        }
        none = (0, 0, 0)
        wrong = [
            k for k in truth.keys() | stored.keys() if truth.get(k, none) != stored.get(k, none)
        ]
        repaired = len(wrong)
        for k in wrong:
            conn.execute(
                delete(D).where(*[getattr(D, n) == v for n, v in zip(ROLLUP_KEY, k, strict=True)])
            )
        fixed = {k: truth[k] for k in wrong if k in truth}
        if fixed:
            conn.execute(insert(D), _rows(ROLLUP_KEY, fixed))
        for period in {k[0] for k in wrong}:
            # rebuild that period's period rollup from the journal
            conn.execute(delete(P).where(P.period == period))
            sums = _journal_sums(conn, PERIOD_KEY, C.period == period)
            if sums:
                conn.execute(insert(P), _rows(PERIOD_KEY, sums))
        conn.execute(delete(D).where(D.gpu_seconds == 0, D.units == 0, D.rows == 0))
        conn.execute(delete(P).where(P.gpu_seconds == 0, P.units == 0, P.rows == 0))
        if repaired:
            conn.execute(
                insert(t.AuditEventRow).values(
                    actor=SYSTEM.username,
                    at=now,
                    action="rollup.repaired",
                    subject="usage_daily",
                    detail=f"{repaired} rollup row(s) differed from the charges journal: rebuilt",
                )
            )
    if repaired:
        log.error("rollups: %d row(s) differed from the charges journal; rebuilt", repaired)
    return repaired


def _already(uow: SqlUnitOfWork, action: str, subject: str, since: datetime | None = None) -> bool:
    A = t.AuditEventRow
    query = select(A.id).where(A.action == action, A.subject == subject)
    if since is not None:
        query = query.where(A.at >= since)
    return uow.session.scalar(query.limit(1)) is not None


def remind(
    uow: SqlUnitOfWork, now: datetime, calendar: Calendar = UTC_QUARTERS, days: int = 14
) -> list[str]:
    """Period-end reminders (audit events); returns what was said. Dates are the site's."""
    said: list[str] = []
    current = calendar.containing(now)
    with uow:
        if current.end - now <= timedelta(days=days) and not _already(
            uow, "period.reminder", f"period:{current.label}"
        ):
            live = report(uow, SYSTEM, current.label, now=now, calendar=calendar)
            idle = sorted(
                {
                    r.project
                    for r in live.rows
                    if r.level == "project"
                    and r.project
                    and r.available > 0
                    and (r.consumed + r.provisional) * 2 < r.available
                }
            )
            text = (
                f"{current.label} ends {_end_date(calendar, current)}: "
                f"{len(idle)} project(s) have used less than half of their allocation"
                + (f" ({', '.join(idle[:20])}{'...' if len(idle) > 20 else ''})" if idle else "")
            )
            uow.audit.append(
                AuditEvent(SYSTEM.username, now, "period.reminder", f"period:{current.label}", text)
            )
            said.append(text)
        previous = calendar.previous(current)
        if not uow.ledger.is_closed(previous.label) and not _already(
            uow, "period.unclosed", f"period:{previous.label}", now - timedelta(days=1)
        ):
            text = f"{previous.label} ended {_end_date(calendar, previous)} and is not closed"
            uow.audit.append(
                AuditEvent(
                    SYSTEM.username, now, "period.unclosed", f"period:{previous.label}", text
                )
            )
            said.append(text)
        uow.commit()
    for text in said:
        log.warning("reminder: %s", text)
    return said


def _end_date(calendar: Calendar, period: Period) -> str:
    """The local date on which ``period`` ends (the next period begins at its midnight)."""
    return calendar.local(period.end).date().isoformat()


def auto_close(
    uow: SqlUnitOfWork, now: datetime, calendar: Calendar, after_days: int | None
) -> str | None:
    """Close the previous period ``after_days`` after its end if nothing is unresolved."""
    if after_days is None:
        return None
    previous = calendar.previous(calendar.containing(now))
    if now < previous.end + timedelta(days=after_days):
        return None
    with uow:
        if uow.ledger.is_closed(previous.label):
            return None
        live = report(uow, SYSTEM, previous.label, now=now, calendar=calendar)
    unresolved = [r for r in live.rows if r.level == "project" and r.status in UNRESOLVED]
    if unresolved:
        log.warning(
            "auto-close: %s waits: %d reconciliation line(s) unresolved",
            previous.label,
            len(unresolved),
        )
        return None
    close_period(
        uow,
        SYSTEM,
        now,
        previous.label,
        f"closed automatically {after_days} day(s) after its end (no unresolved difference)",
        calendar=calendar,
    )
    log.info("auto-close: %s closed", previous.label)
    return previous.label
