"""The outbox's worker: fan out to webhooks, claim what is due, send, record each attempt.

Runs on the scheduler's leader (``connectors.scheduler``). Retries back off exponentially
(``notify_backoff_seconds`` doubling, at most 6 hours); after ``notify_max_attempts`` tries a
delivery is parked: kept, listed to admins, counted in ``/metrics``, never dropped silently.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from allocator.notices import Channel
from connectors.db import delivery_queue as queue
from connectors.notify.channels import (
    DeliveryError,
    email_of,
    post_webhook,
    send_email,
    webhook_body,
)
from connectors.notify.messages import render
from connectors.settings import Settings

log = logging.getLogger(__name__)
CAP = timedelta(hours=6)


@dataclass
class NotifyStatus:
    """This process's deliveries, for ``/metrics`` and ``/readyz``: sends and failures per
    channel, and the last error of each target (``smtp``, ``webhook:<name>``) still failing."""

    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    parked: Counter[str] = field(default_factory=Counter)
    problems: dict[str, str] = field(default_factory=dict)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Notifier:
    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        status: NotifyStatus | None = None,
        client: httpx.Client | None = None,
        lease: timedelta | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.clock = clock
        self.status = status or NotifyStatus()
        self.client = client or httpx.Client(timeout=settings.smtp_timeout_seconds)
        self.hooks = {w.name: w for w in settings.webhooks}
        self.worker = worker_name()
        #: how long a claim holds a delivery: longer than any send (a worker that died frees it)
        self.lease = lease or timedelta(seconds=2 * settings.smtp_timeout_seconds + 60)

    def channels(self) -> list[str]:
        """The channels configured: e-mails wait in the outbox while no relay is set."""
        return [c.value for c in Channel if c is Channel.WEBHOOK or self.settings.smtp_host]

    def deliver(self, limit: int = 100) -> Counter[str]:
        """One pass: returns the deliveries by outcome (``sent``, ``pending``, ``parked``)."""
        webhooks = {w.name: frozenset(w.kinds) for w in self.settings.webhooks}
        with self.factory.begin() as session:
            queue.fan_out(session, webhooks)
        with self.factory.begin() as session:
            due = queue.claim(
                session,
                self.clock(),
                self.lease,
                limit,
                self.settings.notify_language,
                self.channels(),
            )
        outcomes: Counter[str] = Counter()
        for item in due:
            outcomes[self._one(item)] += 1
        return outcomes

    def _one(self, item: queue.Due) -> str:
        target = "smtp" if item.channel is Channel.EMAIL else item.recipient
        try:
            self._send(item)
            error, permanent = None, False
        except DeliveryError as exc:
            error, permanent = exc.reason, exc.permanent
        now = self.clock()
        retry_at = None
        if error is not None and not permanent and item.attempts + 1 < self.max_attempts:
            wait = timedelta(seconds=self.settings.notify_backoff_seconds * 2**item.attempts)
            retry_at = now + min(wait, CAP)
        with self.factory.begin() as session:
            state = queue.settle(session, item, now, self.worker, error, retry_at)
        self._count(item.channel.value, target, state, error)
        return state

    @property
    def max_attempts(self) -> int:
        return self.settings.notify_max_attempts

    def _count(self, channel: str, target: str, state: str, error: str | None) -> None:
        if error is None:
            self.status.sent[channel] += 1
            self.status.problems.pop(target, None)
            return
        self.status.failed[channel] += 1
        self.status.problems[target] = error
        if state == "parked":
            self.status.parked[channel] += 1
        log.warning("notification %s (%s): %s; now %s", target, channel, error, state)

    def _send(self, item: queue.Due) -> None:
        url = self.settings.public_url
        if item.channel is Channel.EMAIL:
            if not item.email:
                raise DeliveryError(f"user {item.recipient} has no e-mail address", True)
            message = render(item.event, item.language, item.why, url)
            send_email(
                self.settings, email_of(self.settings, message, item.email, item.key, item.language)
            )
            return
        hook = self.hooks.get(item.recipient.removeprefix("webhook:"))
        if hook is None:
            raise DeliveryError(f"{item.recipient} is not configured any more", True)
        message = render(item.event, hook.language, "webhook", url)
        post_webhook(self.client, hook, webhook_body(hook, item.event, message, item.key), item.key)

    def digest(self) -> int:
        """Make the daily digests once the local digest hour has come."""
        now = self.clock()
        local = self.settings.calendar.local(now)
        if local.hour < self.settings.notify_digest_hour:
            return 0
        with self.factory.begin() as session:
            return queue.collect_digests(session, now, local.date().isoformat())
