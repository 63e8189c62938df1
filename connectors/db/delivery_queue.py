"""The outbox's delivering side: webhook fan-out, claims with a lease, settling an attempt,
the daily digests, and what admins look at (parked deliveries, counts).

A delivery is claimed (state ``sending``, ``lease_until``) in one short transaction, sent
outside any transaction, then settled in another. A worker killed between the send and the
settle leaves the lease to expire; the delivery is then claimed again and sent again with the
same key (the e-mail's Message-ID, the webhook's ``X-Gpuhours-Delivery``), which receivers
use to drop the copy. On PostgreSQL, claims skip rows another worker holds (``SKIP LOCKED``),
so two workers never claim the same delivery at once.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import RowMapping, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from allocator.notices import Channel, Event, Kind, Mode, mode_for
from connectors.db.notify_tables import NotifyAttemptRow
from connectors.db.outbox import D, E, SqlPreferences, delivery_row, insert_new, store_events
from connectors.db.tables import UserRow

A = cast(Table, NotifyAttemptRow.__table__)
U = cast(Table, UserRow.__table__)


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery and everything needed to send it."""

    id: int
    key: str
    channel: Channel
    recipient: str
    why: str
    attempts: int
    event: Event
    email: str = ""
    language: str = ""


def event_of(row: RowMapping) -> Event:
    params = json.loads(row["params"])
    return Event(
        Kind(row["kind"]),
        row["ekey"],
        row["subject"],
        row["at"],
        tuple(sorted(params.items())),
        row["link"],
    )


def fan_out(session: Session, webhooks: Mapping[str, frozenset[str]]) -> int:
    """Give each event not fanned out yet one delivery per webhook subscribed to its kind
    (an empty set: every kind). Returns the number of deliveries added."""
    rows = session.execute(
        select(E.c.id, E.c.key.label("ekey"), E.c.kind, E.c.subject, E.c.at, E.c.params, E.c.link)
        .where(E.c.fanned_out.is_(False))
        .order_by(E.c.id)
        .limit(500)
    ).mappings()
    added, done = [], []
    for row in rows:
        done.append(row["id"])
        if row["kind"] == Kind.DIGEST.value:
            continue
        event = event_of(row)
        for name, kinds in sorted(webhooks.items()):
            if kinds and row["kind"] not in kinds:
                continue
            target = f"webhook:{name}"
            key = f"{event.key}|{target}"
            added.append(delivery_row(key, row["id"], target, "webhook", Channel.WEBHOOK, event))
    insert_new(session, D, added)
    if done:
        session.execute(update(E).where(E.c.id.in_(done)).values(fanned_out=True))
    return len(added)


def claim(
    session: Session,
    now: datetime,
    lease: timedelta,
    limit: int,
    language: str,
    channels: Collection[str] = ("email", "webhook"),
) -> list[Due]:
    """Claim up to ``limit`` deliveries due at ``now`` (pending, or sending with an expired
    lease: a worker died). E-mails follow the recipient's preference: ``off`` ones are set
    aside, ``digest`` ones wait for the digest; the rest are returned, leased."""
    query = (
        select(
            D.c.id,
            D.c.key,
            D.c.channel,
            D.c.recipient,
            D.c.why,
            D.c.attempts,
            E.c.key.label("ekey"),
            E.c.kind,
            E.c.subject,
            E.c.at,
            E.c.params,
            E.c.link,
        )
        .join(E, E.c.id == D.c.event_id)
        .where(
            D.c.state.in_(("pending", "sending")),
            D.c.channel.in_(list(channels)),
            D.c.next_at <= now,
            or_(D.c.lease_until.is_(None), D.c.lease_until < now),
        )
        .order_by(D.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=D)
    rows = list(session.execute(query).mappings())
    users = [r["recipient"] for r in rows if r["channel"] == Channel.EMAIL.value]
    prefs = SqlPreferences(session)
    chosen = prefs.of(users)
    languages = prefs.languages(users)
    found = session.execute(select(U.c.username, U.c.email).where(U.c.username.in_(users)))
    emails = {str(name): str(address or "") for name, address in found}
    due, aside = [], {Mode.OFF: [], Mode.DIGEST: []}  # type: ignore[var-annotated]
    for row in rows:
        channel, event = Channel(row["channel"]), event_of(row)
        if channel is Channel.EMAIL:
            mode = mode_for(row["recipient"], event.kind, channel, chosen)
            if mode is not Mode.IMMEDIATE:
                aside[mode].append(row["id"])
                continue
        due.append(
            Due(
                row["id"],
                row["key"],
                channel,
                row["recipient"],
                row["why"],
                row["attempts"],
                event,
                emails.get(row["recipient"], ""),
                languages.get(row["recipient"], language),
            )
        )
    for mode, ids in aside.items():
        if ids:
            session.execute(update(D).where(D.c.id.in_(ids)).values(state=mode.value))
    if due:
        session.execute(
            update(D)
            .where(D.c.id.in_([d.id for d in due]))
            .values(state="sending", lease_until=now + lease)
        )
    return due


def settle(
    session: Session,
    due: Due,
    now: datetime,
    worker: str,
    error: str | None,
    retry_at: datetime | None,
) -> str:
    """Record an attempt and its outcome: ``sent`` (``error`` None), ``pending`` again at
    ``retry_at``, or ``parked`` (``retry_at`` None). A delivery already sent by another
    worker stays sent. Returns the new state."""
    session.execute(
        A.insert().values(
            delivery_id=due.id, at=now, worker=worker[:64], ok=error is None, error=error or ""
        )
    )
    if error is None:
        values: dict[str, Any] = {"state": "sent", "sent_at": now, "last_error": ""}
    elif retry_at is None:
        values = {"state": "parked", "last_error": error[:2000]}
    else:
        values = {"state": "pending", "next_at": retry_at, "last_error": error[:2000]}
    session.execute(
        update(D)
        .where(D.c.id == due.id, D.c.state != "sent")
        .values(attempts=D.c.attempts + 1, lease_until=None, **values)
    )
    return str(values["state"])


def collect_digests(session: Session, now: datetime, day: str) -> int:
    """One digest per user with deliveries waiting for it: a ``digest`` event keyed by the user
    and the local ``day``, listing them; they become ``digested``. A user whose digest of
    ``day`` exists already gets the rest the next day. Returns how many digests were made."""
    rows = session.execute(
        select(D.c.id, D.c.recipient, E.c.kind, E.c.params, E.c.link, E.c.at)
        .join(E, E.c.id == D.c.event_id)
        .where(D.c.state == "digest")
        .order_by(D.c.recipient, D.c.id)
    ).mappings()
    by_user: dict[str, list[RowMapping]] = {}
    for row in rows:
        by_user.setdefault(row["recipient"], []).append(row)
    made = 0
    for user, items in by_user.items():
        if session.scalar(select(E.c.id).where(E.c.key == f"digest:{user}:{day}")) is not None:
            continue  # today's digest went: these wait for tomorrow's
        listed = [
            {"kind": r["kind"], "params": json.loads(r["params"]), "link": r["link"]} for r in items
        ]
        event = Event(
            Kind.DIGEST,
            f"digest:{user}:{day}",
            f"user:{user}",
            now,
            (("day", day), ("items", json.dumps(listed, sort_keys=True))),
            "/portal/notifications",
        )
        ids = store_events(session, [event])
        key = f"{event.key}|{user}"
        insert_new(
            session, D, [delivery_row(key, ids[event.key], user, "digest", Channel.EMAIL, event)]
        )
        digest_id = session.scalar(select(D.c.id).where(D.c.key == key))
        session.execute(
            update(D)
            .where(D.c.id.in_([r["id"] for r in items]))
            .values(state="digested", digest_id=digest_id)
        )
        made += 1
    return made


def counts(session: Session) -> dict[tuple[str, str], int]:
    """``(channel, state) -> deliveries``."""
    rows = session.execute(
        select(D.c.channel, D.c.state, func.count()).group_by(D.c.channel, D.c.state)
    )
    return {(str(c), str(s)): int(n) for c, s, n in rows}


def health(session: Session, scan: int = 500) -> dict[str, str]:
    """Each target's (``smtp``, ``webhook:<name>``) latest attempt: ``ok`` or its error. A
    recipient without an address says nothing about the relay and is left out."""
    rows = session.execute(
        select(A.c.ok, A.c.error, D.c.channel, D.c.recipient)
        .join(D, D.c.id == A.c.delivery_id)
        .order_by(A.c.id.desc())
        .limit(scan)
    )
    found: dict[str, str] = {}
    for ok, error, channel, recipient in rows:
        if not ok and "has no e-mail address" in error:
            continue
        target = "smtp" if channel == Channel.EMAIL.value else str(recipient)
        found.setdefault(target, "ok" if ok else str(error))
    return dict(sorted(found.items()))


def parked(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The deliveries that kept failing (newest first), for admins."""
    rows = session.execute(
        select(D.c.id, D.c.key, D.c.channel, D.c.recipient, D.c.attempts, D.c.last_error)
        .where(D.c.state == "parked")
        .order_by(D.c.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def release_parked(session: Session, ids: Sequence[int], now: datetime) -> int:
    """Send parked deliveries again (an admin fixed the cause)."""
    result = session.execute(
        update(D)
        .where(and_(D.c.id.in_(list(ids)), D.c.state == "parked"))
        .values(state="pending", next_at=now, attempts=0)
    )
    return int(getattr(result, "rowcount", 0) or 0)
