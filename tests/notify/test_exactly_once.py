"""Exactly once from the outbox, with real processes on one PostgreSQL: a worker killed with
SIGKILL in the middle of a send, two workers sharing the rest, an SMTP server refusing for a
while. Every notification arrives; none twice once the receiver drops copies by Message-ID."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from allocator import services as svc
from connectors.db.notify_tables import NotifyAttemptRow, NotifyDeliveryRow
from tests.builders import ADMIN, BOB, CAL, H
from tests.conftest import NO_PG, PG_URL, FixedClock
from tests.notify.conftest import uow_of
from tests.notify.servers import Inbox, smtp_server
from tests.notify.workers import deliver_until_done

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason=NO_PG)]


class SlowFirst(Inbox):
    """Takes the first message, then stalls before answering (the sender is killed then)."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if not self.stalled.is_set():
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return answer


def test_killed_worker_two_workers_and_a_refusing_server_deliver_everything_once(
    org: Engine, clock: FixedClock
) -> None:
    if org.dialect.name != "postgresql":
        pytest.skip("two worker processes need PostgreSQL")
    for _ in range(6):  # 6 submissions (admin) and 6 decisions (bob, alice): 18 e-mails
        r = svc.submit_request(
            uow_of(org), BOB, clock(), "p1", "nat", [("2026Q4", H)], "more", calendar=CAL
        )
        svc.approve_request(uow_of(org), ADMIN, clock(), r.id, calendar=CAL)
    url = org.url.render_as_string(False)
    spawn = multiprocessing.get_context("spawn")
    inbox = SlowFirst()
    with smtp_server(inbox) as port:
        doomed = spawn.Process(target=deliver_until_done, args=(url, port, 3.0))
        doomed.start()
        assert inbox.stalled.wait(60), "the first worker never sent"
        os.kill(doomed.pid or 0, signal.SIGKILL)  # mid-send: the server has the message
        doomed.join(10)
        inbox.refuse = 4
        inbox.release.set()
        workers = [
            spawn.Process(target=deliver_until_done, args=(url, port, 3.0)) for _ in range(2)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
            assert w.exitcode == 0
    assert doomed.exitcode == -signal.SIGKILL
    with org.connect() as conn:
        states = dict(
            conn.execute(
                select(NotifyDeliveryRow.state, func.count()).group_by(NotifyDeliveryRow.state)
            ).all()
        )
        failed = conn.scalar(select(func.count()).where(NotifyAttemptRow.ok.is_(False)))
        workers_seen = set(conn.scalars(select(func.distinct(NotifyAttemptRow.worker))))
    assert states == {"sent": 18}
    assert len(inbox.messages) == 18  # every one, once after dropping copies
    assert len(inbox.copies) == 19  # the killed worker's message arrived twice
    assert inbox.refused == 4 and failed == 4  # refused ones were retried, then delivered
    pids = {int(name.rsplit(":", 1)[1]) for name in workers_seen}
    assert pids <= {w.pid for w in workers}  # the killed worker recorded nothing
