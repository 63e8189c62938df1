"""The outbox's writing side: notices stored in the caller's transaction, once each; the
threshold crossings; the preferences and languages. The delivering side is
``connectors.db.delivery_queue``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from accounting.alerts import Crossing
from allocator.notices import Channel, Event, Kind, Mode, Notice, Preference
from connectors.db.notify_tables import (
    NotifyCrossingRow,
    NotifyDeliveryRow,
    NotifyEventRow,
    NotifyPreferenceRow,
    NotifyProfileRow,
)

E = cast(Table, NotifyEventRow.__table__)
D = cast(Table, NotifyDeliveryRow.__table__)
P = cast(Table, NotifyPreferenceRow.__table__)


def insert_new(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, skipping those whose unique key is already stored (on both backends,
    without aborting the transaction: a concurrent writer of the same key wins quietly)."""
    if rows:
        make = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(make(table).on_conflict_do_nothing(), list(rows))


def event_row(event: Event) -> dict[str, Any]:
    return {
        "key": event.key,
        "kind": event.kind.value,
        "subject": event.subject,
        "at": event.at,
        "params": json.dumps(dict(event.params), sort_keys=True),
        "link": event.link,
        "fanned_out": False,
    }


def delivery_row(
    key: str, event_id: int, recipient: str, why: str, channel: Channel, event: Event
) -> dict[str, Any]:
    return {
        "key": key,
        "event_id": event_id,
        "recipient": recipient,
        "why": why,
        "channel": channel.value,
        "state": "pending",
        "attempts": 0,
        "next_at": event.at,
        "lease_until": None,
        "last_error": "",
        "sent_at": None,
        "digest_id": None,
    }


def store_events(session: Session, events: Iterable[Event]) -> dict[str, int]:
    """Store each event once; returns ``key -> id`` of every one given."""
    unique = {e.key: e for e in events}
    insert_new(session, E, [event_row(e) for e in unique.values()])
    found = session.execute(select(E.c.key, E.c.id).where(E.c.key.in_(list(unique))))
    return {str(row[0]): int(row[1]) for row in found}


class SqlNotices:
    """``allocator.ports.NoticeOutbox``: one e-mail delivery per notice, pending."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, notices: Sequence[Notice]) -> int:
        if not notices:
            return 0
        ids = store_events(self.session, (n.event for n in notices))
        keys = [n.key for n in notices]
        known = set(self.session.scalars(select(D.c.key).where(D.c.key.in_(keys))))
        rows = [
            delivery_row(n.key, ids[n.event.key], n.recipient, n.why.value, Channel.EMAIL, n.event)
            for n in notices
            if n.key not in known
        ]
        insert_new(self.session, D, rows)
        return len(rows)


class SqlCrossings:
    """``accounting.ports.CrossingStore``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, subjects: Sequence[str]) -> dict[str, Crossing]:
        rows = self.session.scalars(
            select(NotifyCrossingRow).where(NotifyCrossingRow.subject.in_(list(subjects)))
        )
        return {r.subject: Crossing(r.crossed, r.times) for r in rows}

    def put(self, subject: str, state: Crossing) -> None:
        row = self.session.get(NotifyCrossingRow, subject)
        if row is None:
            self.session.add(NotifyCrossingRow(subject=subject, crossed=state.crossed, times=0))
            self.session.flush()
            row = self.session.get(NotifyCrossingRow, subject)
        assert row is not None
        row.crossed, row.times = state.crossed, state.times
        self.session.flush()


class SqlPreferences:
    """Preferences (``*``: the site's defaults) and languages."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def of(self, usernames: Iterable[str]) -> list[Preference]:
        names = sorted({*usernames, "*"})
        rows = self.session.execute(select(P).where(P.c.username.in_(names))).mappings()
        return [
            Preference(r["username"], Kind(r["kind"]), Channel(r["channel"]), Mode(r["mode"]))
            for r in rows
            if r["kind"] in Kind.__members__.values()
        ]

    def put(self, preference: Preference) -> None:
        keys = (
            P.c.username == preference.username,
            P.c.kind == preference.kind.value,
            P.c.channel == preference.channel.value,
        )
        self.session.execute(delete(P).where(*keys))
        self.session.execute(
            P.insert().values(
                username=preference.username,
                kind=preference.kind.value,
                channel=preference.channel.value,
                mode=preference.mode.value,
            )
        )

    def languages(self, usernames: Iterable[str]) -> dict[str, str]:
        rows = self.session.scalars(
            select(NotifyProfileRow).where(NotifyProfileRow.username.in_(sorted(set(usernames))))
        )
        return {r.username: r.language for r in rows}

    def set_language(self, username: str, language: str) -> None:
        row = self.session.get(NotifyProfileRow, username)
        if row is None:
            self.session.add(NotifyProfileRow(username=username, language=language))
        else:
            row.language = language
        self.session.flush()


def park_all(session: Session, ids: Sequence[int], error: str) -> None:
    """Park deliveries that can never go (kept for an admin to see)."""
    if ids:
        session.execute(
            update(D).where(D.c.id.in_(list(ids))).values(state="parked", last_error=error)
        )
