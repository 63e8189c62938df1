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
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func, insert, select

from allocator.model import AuditEvent, Role, User
from allocator.periods import PeriodScheme, period_containing, period_of
from connectors.db import tables as t
from connectors.db.uow import SqlUnitOfWork
from connectors.quarter import UNRESOLVED, close_period, report

log = logging.getLogger(__name__)
SYSTEM = User("gpuhours-scheduler", Role.ADMIN)
DAY = 86400


def check_rollups(engine: Engine, now: datetime, days: int = 3) -> int:
    """Verify (and repair) the daily and period rollups of the last ``days`` days; prune
    zero rows. Returns the number of rows repaired."""
    C, D, P = t.ChargeRow, t.UsageDailyRow, t.UsagePeriodRow
    since = int(now.timestamp()) // DAY - days
    key = (
        C.period,
        C.pool_id,
        C.cluster,
        C.account,
        C.day,
        C.gpu_type,
        C.provisional,
        C.late,
        C.priced,
    )
    repaired = 0
    with engine.begin() as conn:
        truth = {
            tuple(r[:-3]): tuple(int(v) for v in r[-3:])
            for r in conn.execute(
                select(*key, func.sum(C.gpu_seconds), func.sum(C.units), func.count())
                .where(C.day >= since)
                .group_by(*key)
            )
        }
        stored = {
            (
                r.period,
                r.pool_id,
                r.cluster,
                r.account,
                r.day,
                r.gpu_type,
                r.provisional,
                r.late,
                r.priced,
            ): (
                r.gpu_seconds,
                r.units,
                r.rows,
            )
            for r in conn.execute(select(D).where(D.day >= since))
        }
        touched_periods = set()
        for k in truth.keys() | stored.keys():
            want = truth.get(k, (0, 0, 0))
            if stored.get(k, (0, 0, 0)) == want:
                continue
            repaired += 1
            touched_periods.add(k[0])
            where = [getattr(D, name) == value for name, value in zip(_DAILY_KEY, k, strict=True)]
            conn.execute(delete(D).where(*where))
            if want != (0, 0, 0):
                conn.execute(
                    insert(D).values(
                        {
                            **dict(zip(_DAILY_KEY, k, strict=True)),
                            "gpu_seconds": want[0],
                            "units": want[1],
                            "rows": want[2],
                        }
                    )
                )
        for period in touched_periods:
            # rebuild that period's period rollup from the journal
            conn.execute(delete(P).where(P.period == period))
            pkey = (
                C.period,
                C.pool_id,
                C.cluster,
                C.account,
                C.gpu_type,
                C.provisional,
                C.late,
                C.priced,
            )
            rows = conn.execute(
                select(*pkey, func.sum(C.gpu_seconds), func.sum(C.units), func.count())
                .where(C.period == period)
                .group_by(*pkey)
            ).all()
            if rows:
                conn.execute(
                    insert(P),
                    [
                        dict(
                            zip(_PERIOD_KEY, r[:-3], strict=True),
                            gpu_seconds=r[-3],
                            units=r[-2],
                            rows=r[-1],
                        )
                        for r in rows
                    ],
                )
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


_DAILY_KEY = (
    "period",
    "pool_id",
    "cluster",
    "account",
    "day",
    "gpu_type",
    "provisional",
    "late",
    "priced",
)
_PERIOD_KEY = (
    "period",
    "pool_id",
    "cluster",
    "account",
    "gpu_type",
    "provisional",
    "late",
    "priced",
)


def _already(uow: SqlUnitOfWork, action: str, subject: str, since: datetime | None = None) -> bool:
    A = t.AuditEventRow
    query = select(A.id).where(A.action == action, A.subject == subject)
    if since is not None:
        query = query.where(A.at >= since)
    return uow.session.scalar(query.limit(1)) is not None


def remind(uow: SqlUnitOfWork, now: datetime, scheme: PeriodScheme, days: int = 14) -> list[str]:
    """Period-end reminders (audit events); returns what was said."""
    said: list[str] = []
    current = period_containing(now, scheme)
    with uow:
        if current.end - now <= timedelta(days=days) and not _already(
            uow, "period.reminder", f"period:{current.label}"
        ):
            live = report(uow, SYSTEM, current.label)
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
                f"{current.label} ends {current.end.date().isoformat()}: "
                f"{len(idle)} project(s) have used less than half of their allocation"
                + (f" ({', '.join(idle[:20])}{'...' if len(idle) > 20 else ''})" if idle else "")
            )
            uow.audit.append(
                AuditEvent(SYSTEM.username, now, "period.reminder", f"period:{current.label}", text)
            )
            said.append(text)
        previous = period_of(_previous_label(current.label))
        if not uow.ledger.is_closed(previous.label) and not _already(
            uow, "period.unclosed", f"period:{previous.label}", now - timedelta(days=1)
        ):
            text = f"{previous.label} ended {previous.end.date().isoformat()} and is not closed"
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


def _previous_label(label: str) -> str:
    p = period_of(label)
    return period_containing(p.start - timedelta(seconds=1), _scheme_of(label)).label


def _scheme_of(label: str) -> PeriodScheme:
    from allocator.periods import scheme_of

    return scheme_of(label)


def auto_close(
    uow: SqlUnitOfWork, now: datetime, scheme: PeriodScheme, after_days: int | None
) -> str | None:
    """Close the previous period ``after_days`` after its end if nothing is unresolved."""
    if after_days is None:
        return None
    current = period_containing(now, scheme)
    previous = period_of(_previous_label(current.label))
    if now < previous.end + timedelta(days=after_days):
        return None
    with uow:
        if uow.ledger.is_closed(previous.label):
            return None
        live = report(uow, SYSTEM, previous.label)
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
    )
    log.info("auto-close: %s closed", previous.label)
    return previous.label
