"""The notifications' tables: the outbox (events and their deliveries), the attempts, the
preferences and the threshold crossings. See ``connectors.db.outbox``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from connectors.db.tables import Base, UTCDateTime


class NotifyEventRow(Base):
    """An event that notifies, stored once (``key``), in the transaction that caused it."""

    __tablename__ = "notify_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: the message's parameters, a JSON object of strings
    params: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(255))
    #: the configured webhooks got their deliveries
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class NotifyDeliveryRow(Base):
    """One recipient's (user or webhook) share of an event on one channel, delivered at most
    once (``key``). ``state``: pending, sending (leased), sent, digest (waits for the digest),
    digested, off (the recipient's preference), parked (kept failing; an admin looks)."""

    __tablename__ = "notify_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(320), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("notify_events.id"), index=True)
    #: a username, or ``webhook:<name>``
    recipient: Mapped[str] = mapped_column(String(128))
    why: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: the digest delivery that carried this one (state ``digested``)
    digest_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class NotifyAttemptRow(Base):
    """One try of a delivery: when, by which worker, and what came of it."""

    __tablename__ = "notify_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notify_deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    worker: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str] = mapped_column(Text, default="")


class NotifyPreferenceRow(Base):
    """A user's (``*``: the site's default) mode for one event kind on one channel."""

    __tablename__ = "notify_preferences"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(48), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))


class NotifyProfileRow(Base):
    """A user's language for messages (``en`` or ``fr``)."""

    __tablename__ = "notify_profiles"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(8))


class NotifyCrossingRow(Base):
    """Where an account stands against a threshold (``accounting.alerts.Crossing``)."""

    __tablename__ = "notify_crossings"
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    crossed: Mapped[bool] = mapped_column(Boolean)
    times: Mapped[int] = mapped_column(Integer)
