"""The site's calendar the stored data was booked with; a start with another one is refused.

Periods and days begin at local midnight of ``GPUHOURS_TIME_ZONE``, and labels follow
``GPUHOURS_PERIOD_SCHEME``: every charge, daily rollup row, local-capacity deposit and grant
split depends on both. The first start on a database records them (table ``site_settings``).
Once usage or ledger data exists, a start with another value is refused with one line naming
the stored and the configured value and what to do: closed periods never move, and re-booking
the open ones would have to redo their capacity deposits and grant splits as well as their
charges, so the zone of a database is fixed once it holds data. Until then a changed setting
simply replaces the stored one.

Data stored before this check existed was booked in UTC, the only zone there was: a database
with data and no stored zone is taken as ``UTC``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, delete, insert, inspect, literal, select
from sqlalchemy.exc import IntegrityError

from allocator.periods import Calendar
from connectors.db import tables as t

S = t.SiteSettingRow
#: The settings stored, with the environment variable that sets each.
SETTINGS = {"time_zone": "GPUHOURS_TIME_ZONE", "period_scheme": "GPUHOURS_PERIOD_SCHEME"}
#: What data booked before ``site_settings`` existed was booked with.
BEFORE = {"time_zone": "UTC"}
#: Tables whose rows depend on the calendar: any row means the calendar is fixed.
BOOKED = (t.UsageRecordRow, t.ChargeRow, t.LedgerEntryRow, t.StatementRow, t.PeriodCloseRow)


class CalendarMismatch(ValueError):
    """The configured calendar is not the one the stored data was booked with."""

    def __init__(self, name: str, stored: str, configured: str) -> None:
        variable = SETTINGS[name]
        super().__init__(
            f"{name}: this database's usage and hours were booked with {variable}={stored}, "
            f"but it is now {configured}: set {variable}={stored} again (periods, closed ones "
            f"included, cannot move once booked; another {name} needs a new database)"
        )
        self.name = name
        self.stored = stored
        self.configured = configured


def wanted(calendar: Calendar) -> dict[str, str]:
    return {"time_zone": calendar.zone_name, "period_scheme": calendar.scheme.value}


def stored_calendar(conn: Connection) -> dict[str, str]:
    """The stored settings (none before the first start)."""
    return dict(conn.execute(select(S.name, S.value)).tuples().all())


def has_booked_data(conn: Connection) -> bool:
    return any(
        conn.execute(select(literal(1)).select_from(table).limit(1)).first() is not None
        for table in BOOKED
    )


def check_calendar(engine: Engine, calendar: Calendar, now: datetime) -> None:
    """Record ``calendar`` on first use; raise :class:`CalendarMismatch` if data was booked
    with another. Does nothing before the schema has ``site_settings`` (the caller migrates,
    then checks again)."""
    if not inspect(engine).has_table(S.__tablename__):
        return
    try:
        _check(engine, calendar, now)
    except IntegrityError:  # another replica recorded it at the same moment: compare with it
        _check(engine, calendar, now)


def _check(engine: Engine, calendar: Calendar, now: datetime) -> None:
    configured = wanted(calendar)
    with engine.begin() as conn:
        stored = stored_calendar(conn)
        if stored == configured:
            return
        if has_booked_data(conn):
            booked_with = {**BEFORE, **stored}
            for name, value in configured.items():
                if name in booked_with and booked_with[name] != value:
                    raise CalendarMismatch(name, booked_with[name], value)
        changed = [name for name, value in configured.items() if stored.get(name) != value]
        conn.execute(delete(S).where(S.name.in_([n for n in changed if n in stored])))
        conn.execute(
            insert(S), [{"name": n, "value": configured[n], "set_at": now} for n in changed]
        )
