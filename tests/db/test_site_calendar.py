"""The time zone (and period scheme) a database's data was booked with is fixed once it has data.

ENACT switching ``GPUHOURS_TIME_ZONE`` from UTC to ``Europe/Paris`` on a database that already
holds usage would move every period boundary by an hour under charges, capacity deposits and
closed reports: gpuhours refuses to start instead, naming both zones and what to do.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, select

from allocator import services as svc
from connectors.bootstrap import Services, build
from connectors.db import tables as t
from connectors.db.site import CalendarMismatch, check_calendar
from connectors.db.usage_store import SqlUsageStore
from connectors.settings import Settings
from tests.builders import ADMIN, H, local_pool, seed_world, usage_record

NOW = datetime(2026, 11, 21, 9, tzinfo=UTC)
NOV = int(datetime(2026, 11, 2, 10, tzinfo=UTC).timestamp())


def services(engine: Engine, time_zone: str = "UTC", scheme: str = "quarter") -> Services:
    settings = Settings(
        database_url=engine.url.render_as_string(False),
        time_zone=time_zone,
        period_scheme=scheme,  # type: ignore[arg-type]
    )
    return build(settings, engine=engine)


def stored(engine: Engine) -> dict[str, str]:
    S = t.SiteSettingRow
    with engine.connect() as conn:
        return dict(conn.execute(select(S.name, S.value)).tuples().all())


def book_usage(sv: Services) -> None:
    from accounting.ingestion import UsageBatch, Window

    job = usage_record(NOV, H, account="acct-p1")
    sv.usage_store().store_window("enact-dev", Window(NOV, NOV + H), UsageBatch([job]), NOV, None)


def test_the_first_start_records_the_site_calendar(engine: Engine) -> None:
    services(engine, "Europe/Paris")
    assert stored(engine) == {"time_zone": "Europe/Paris", "period_scheme": "quarter"}
    services(engine, "Europe/Paris")  # the same again: nothing to say
    assert stored(engine) == {"time_zone": "Europe/Paris", "period_scheme": "quarter"}


def test_before_any_data_the_zone_may_still_change(engine: Engine) -> None:
    sv = services(engine, "Europe/Paris")
    with sv.uow() as uow:  # a user and a pool: nothing booked in a period yet
        uow.users.add(ADMIN)
        uow.pools.add(local_pool())
        uow.commit()
    services(engine, "UTC")
    assert stored(engine)["time_zone"] == "UTC"


def test_once_usage_is_booked_another_zone_is_refused_naming_both(engine: Engine) -> None:
    sv = services(engine, "Europe/Paris")
    seed_world(sv.uow(), NOW)
    book_usage(sv)
    with pytest.raises(CalendarMismatch) as caught:
        services(engine, "UTC")
    message = str(caught.value)
    assert message.startswith("time_zone: ")
    assert "GPUHOURS_TIME_ZONE=Europe/Paris" in message and "now UTC" in message
    assert "\n" not in message
    assert stored(engine)["time_zone"] == "Europe/Paris"  # unchanged
    services(engine, "Europe/Paris")  # the booked zone still starts


def test_ledger_entries_alone_fix_the_zone(engine: Engine) -> None:
    sv = services(engine, "UTC")
    seed_world(sv.uow(), NOW)
    # a local pool's capacity deposit is its inventory x the period's length: zone-dependent
    svc.allocate_to_chair(
        sv.uow(),
        ADMIN,
        NOW,
        "loc",
        "chair-a",
        "2026Q4",
        10 * H,
        "share",
        calendar=sv.settings.calendar,
    )
    with pytest.raises(CalendarMismatch, match="GPUHOURS_TIME_ZONE=UTC, but it is now Europe"):
        services(engine, "Europe/Paris")


def test_the_period_scheme_is_fixed_the_same_way(engine: Engine) -> None:
    sv = services(engine, "UTC")
    seed_world(sv.uow(), NOW)
    book_usage(sv)
    with pytest.raises(CalendarMismatch, match=r"^period_scheme: .*PERIOD_SCHEME=quarter"):
        services(engine, "UTC", "month")


def test_data_from_before_the_setting_was_booked_in_utc(engine: Engine) -> None:
    sv = services(engine, "UTC")
    seed_world(sv.uow(), NOW)
    book_usage(sv)
    with engine.begin() as conn:  # a database of the previous release: no site_settings rows
        conn.execute(delete(t.SiteSettingRow))
    with pytest.raises(CalendarMismatch, match="booked with GPUHOURS_TIME_ZONE=UTC"):
        services(engine, "Europe/Paris")
    services(engine, "UTC")
    assert stored(engine) == {"time_zone": "UTC", "period_scheme": "quarter"}


def test_a_database_without_the_table_yet_is_checked_after_migrating(engine: Engine) -> None:
    sv = services(engine, "Europe/Paris")
    with engine.begin() as conn:
        conn.execute(delete(t.SiteSettingRow))
    sv.migrate()  # at head already: the check records the zone
    assert stored(engine)["time_zone"] == "Europe/Paris"
    check_calendar(engine, sv.settings.calendar, NOW)


def test_usage_booked_in_paris_keeps_its_local_days_after_a_restart(engine: Engine) -> None:
    sv = services(engine, "Europe/Paris")
    seed_world(sv.uow(), NOW)
    assert isinstance(sv.usage_store(), SqlUsageStore)
    assert sv.usage_store().calendar.zone_name == "Europe/Paris"
    book_usage(sv)
    again = services(engine, "Europe/Paris")
    assert again.usage_store().calendar == sv.usage_store().calendar
