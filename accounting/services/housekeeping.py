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

from accounting import report as rpt
from accounting.charging import UTC_QUARTERS, local_days
from accounting.ports import AccountingUnitOfWork
from accounting.services.closing import UNRESOLVED, close_period, report
from allocator.model import AuditEvent, Role, User
from allocator.periods import Calendar, Period

log = logging.getLogger(__name__)
SYSTEM = User("gpuhours-scheduler", Role.ADMIN)


def check_rollups(
    uow: AccountingUnitOfWork, now: datetime, days: int = 3, calendar: Calendar = UTC_QUARTERS
) -> int:
    """Verify (and repair) the daily and period rollups of the last ``days`` local days of
    ``calendar``; prune zero rows. Returns the number of rows repaired."""
    since = local_days(calendar).of(int(now.timestamp())) - days
    with uow:
        store = uow.housekeeping
        truth = store.journal_days(since)
        stored = store.rollup_days(since)
        none = (0, 0, 0)
        wrong = [
            k for k in truth.keys() | stored.keys() if truth.get(k, none) != stored.get(k, none)
        ]
        store.replace_days(wrong, {k: truth[k] for k in wrong if k in truth})
        for period in {k[0] for k in wrong}:
            store.rebuild_period(period)
        store.prune()
        if wrong:
            uow.audit.append(
                AuditEvent(
                    SYSTEM.username,
                    now,
                    "rollup.repaired",
                    "usage_daily",
                    f"{len(wrong)} rollup row(s) differed from the charges journal: rebuilt",
                )
            )
        uow.commit()
    if wrong:
        log.error("rollups: %d row(s) differed from the charges journal; rebuilt", len(wrong))
    return len(wrong)


def _idle_projects(live: rpt.Report) -> list[str]:
    """Projects that have used less than half of their allocation."""
    return sorted(
        {
            r.project
            for r in live.rows
            if r.level == "project"
            and r.project
            and r.available > 0
            and (r.consumed + r.provisional) * 2 < r.available
        }
    )


def _end_date(calendar: Calendar, period: Period) -> str:
    """The local date on which ``period`` ends (the next period begins at its midnight)."""
    return calendar.local(period.end).date().isoformat()


def _remind_ending(
    uow: AccountingUnitOfWork, now: datetime, calendar: Calendar, current: Period
) -> str:
    idle = _idle_projects(report(uow, SYSTEM, current.label, now=now, calendar=calendar))
    text = (
        f"{current.label} ends {_end_date(calendar, current)}: "
        f"{len(idle)} project(s) have used less than half of their allocation"
        + (f" ({', '.join(idle[:20])}{'...' if len(idle) > 20 else ''})" if idle else "")
    )
    uow.audit.append(
        AuditEvent(SYSTEM.username, now, "period.reminder", f"period:{current.label}", text)
    )
    return text


def remind(
    uow: AccountingUnitOfWork, now: datetime, calendar: Calendar = UTC_QUARTERS, days: int = 14
) -> list[str]:
    """Period-end reminders (audit events); returns what was said. Dates are the site's."""
    said: list[str] = []
    current = calendar.containing(now)
    with uow:
        if current.end - now <= timedelta(days=days) and not uow.housekeeping.said(
            "period.reminder", f"period:{current.label}"
        ):
            said.append(_remind_ending(uow, now, calendar, current))
        previous = calendar.previous(current)
        if not uow.ledger.is_closed(previous.label) and not uow.housekeeping.said(
            "period.unclosed", f"period:{previous.label}", now - timedelta(days=1)
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


def auto_close(
    uow: AccountingUnitOfWork, now: datetime, calendar: Calendar, after_days: int | None
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
