"""A worker process for the exactly-once test: delivers the outbox until nothing is left."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from connectors.db.engine import make_engine, make_session_factory
from connectors.notify.worker import Notifier
from connectors.settings import Settings


def deliver_until_done(url: str, port: int, lease_seconds: float, idle_rounds: int = 15) -> None:
    engine = make_engine(url)
    settings = Settings(
        database_url=url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_timeout_seconds=10,
        notify_backoff_seconds=0.3,
        notify_max_attempts=50,
    )
    notifier = Notifier(
        settings,
        make_session_factory(engine),
        lambda: datetime.now(UTC),
        lease=timedelta(seconds=lease_seconds),
    )
    idle = 0
    while idle < idle_rounds:
        idle = idle + 1 if not notifier.deliver(limit=5) else 0
        time.sleep(0.2)
    engine.dispose()
