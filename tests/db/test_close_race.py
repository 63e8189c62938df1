"""A closed period is final under concurrency: writers of every kind race its close.

Twenty threads loop, each writing one kind of amount into 2026Q3 — an allocation to a chair,
a transfer between two projects, an adjustment, a grant deposit — while late usage of
September is stored, and an administrator closes 2026Q3 (forced) in the middle. Afterwards no
ledger entry of 2026Q3 is dated after the close, and the signed report equals the live
figures: what the close signed off is what the period holds, for ever.

``race_close`` is also run in a loop by ``python -m tests.bench.race_close`` (not in CI).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import Engine

from accounting import services as acc
from accounting.ingestion import UsageBatch, Window
from accounting.report import Report
from accounting.usage import UsageRecord
from allocator import services as svc
from allocator.errors import Conflict, PeriodIsClosed
from allocator.model import ClosePolicy, PoolKind
from connectors.bootstrap import Services, build
from connectors.settings import Settings
from tests.builders import ADMIN, CAL, H, local_pool, seed_world
from tests.conftest import NOW

PERIOD = "2026Q3"
Q3_START, Q3_END = datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
KINDS = ("allocation", "transfer", "adjustment", "grant")


class WallClock:
    """Wall time moved to the test's day: entries are dated in the order they were written."""

    def __init__(self, base: datetime = NOW) -> None:
        self.base = base
        self.started = time.monotonic()

    def __call__(self) -> datetime:
        return self.base + timedelta(seconds=time.monotonic() - self.started)


@dataclass
class RaceOutcome:
    closed_at: datetime
    written: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    #: ledger entries of the period dated after its close
    entries_after_close: int = 0
    #: figures of the signed report that differ from the live ones afterwards
    mismatches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def violations(self) -> int:
        return self.entries_after_close + len(self.mismatches)


def _writers(services: Services, clock: WallClock) -> dict[str, Callable[[], object]]:
    jobs = count(1)

    def usage() -> object:
        """A one-hour September job of p1 on the local cluster, stored as a chunk would be."""
        job = next(jobs)
        start = int(datetime(2026, 9, 1 + job % 28, 12, tzinfo=UTC).timestamp()) + job
        record = UsageRecord(
            cluster="enact-dev",
            job_id=job,
            submit=start - 60,
            account="acct-p1",
            user="alice",
            partition="gpu",
            qos="normal",
            state="COMPLETED",
            start=start,
            end=start + 3600,
            elapsed=3600,
            gpus=1,
            gpus_by_type=(("a100", 1),),
        )
        epoch = int(clock().timestamp())
        return services.usage_store().store_window(
            "enact-dev", Window(start, epoch), UsageBatch([record]), epoch, None
        )

    return {
        "allocation": lambda: svc.allocate_to_chair(
            services.uow(), ADMIN, clock(), "nat", "chair-a", PERIOD, 60, "race", calendar=CAL
        ),
        "transfer": lambda: svc.transfer(
            services.uow(), ADMIN, clock(), "nat", PERIOD, "p1", "p1b", 60, "race", calendar=CAL
        ),
        "adjustment": lambda: svc.adjust(
            services.uow(), ADMIN, clock(), "nat", "p1", PERIOD, 60, "race", calendar=CAL
        ),
        "grant": lambda: svc.add_grant(
            services.uow(),
            ADMIN,
            clock(),
            "nat",
            60,
            "race",
            calendar=CAL,
            start=Q3_START,
            end=Q3_END,
        ),
        "usage": usage,
    }


def _wait(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def race_close(services: Services, writers: int = 20) -> RaceOutcome:
    """On an empty database: seed, race ``writers`` threads (and one of late usage) against
    the close of 2026Q3, and measure what the close let through."""
    clock = WallClock()
    seed_world(services.uow(), clock())
    svc.allocate_to_project(
        services.uow(), ADMIN, clock(), "nat", "p1", PERIOD, 100 * H, "race", True, calendar=CAL
    )
    ops = _writers(services, clock)
    kinds = [KINDS[i % len(KINDS)] for i in range(writers)] + ["usage"]
    written: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def loop(kind: str) -> None:
        while not stop.is_set():
            try:
                ops[kind]()
            except Conflict as exc:  # PeriodIsClosed, once the close is through
                with lock:
                    refused[kind] += 1
                if "is closed" not in exc.message:
                    errors.append(f"{kind}: {exc.message}")
            except Exception as exc:  # a deadlock, a lost update: the test reports it
                with lock:
                    errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])
                return
            else:
                with lock:
                    written[kind] += 1

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in kinds]
    for t in threads:
        t.start()
    # every kind is writing when the close starts ...
    _wait(lambda: all(written[k] >= 2 for k in (*KINDS, "usage")) or bool(errors), 60)
    signed = acc.close_period(
        services.uow(), ADMIN, clock(), PERIOD, "race", force=True, calendar=CAL, clock=clock
    )
    # ... and goes on until every kind of writer has met the closed period
    _wait(lambda: all(refused[k] >= 1 for k in KINDS) or bool(errors), 10)
    stop.set()
    for t in threads:
        t.join(60)
    outcome = RaceOutcome(_closed_at(services), written, refused, errors=errors)
    outcome.entries_after_close = _entries_after(services, outcome.closed_at)
    outcome.mismatches = live_mismatches(services, signed, clock())
    return outcome


def _closed_at(services: Services) -> datetime:
    state = acc.period_state(services.uow(), PERIOD, now=NOW, calendar=CAL)
    assert state.closed_at is not None
    return state.closed_at.astimezone(UTC)


def _entries_after(services: Services, closed_at: datetime) -> int:
    with services.uow() as uow:
        entries = uow.ledger.entries(period=PERIOD)
    return sum(1 for e in entries if e.at.astimezone(UTC) > closed_at)


def live_mismatches(services: Services, signed: Report, now: datetime) -> list[str]:
    """Every figure of the signed report that the live ledger and usage no longer give.

    The close's own entries (expiry, carry-over, return) leave the projects after the report
    was signed: the live adjustments are the signed ones less what the close moved out."""
    out: list[str] = []
    uow = services.uow()
    with uow:
        pools = {p.id: p for p in uow.pools.list()}
        consumption = services.consumption.within(uow)
        reported: set[tuple[str, str]] = set()
        for row in signed.rows:
            if row.pool not in pools:
                continue
            if row.level == "pool":
                live = svc.pool_balances(uow, ADMIN, row.pool, PERIOD, now=now, calendar=CAL)
                got, want = (live.capacity, live.allocated), (row.capacity, row.allocated)
            elif row.level == "chair":
                (c,) = svc.chair_balances(
                    uow, ADMIN, row.chair, row.pool, PERIOD, now=now, calendar=CAL
                )
                got, want = (c.received,), (row.allocated,)
            else:
                reported.add((row.pool, row.project))
                (b,) = svc.project_balances_in(
                    uow, ADMIN, row.project, PERIOD, [row.pool], consumption, now=now, calendar=CAL
                )
                moved = row.expired + row.carried + row.returned
                got = (b.allocated, b.adjustments, b.consumed, b.consumed_provisional)
                want = (row.allocated, row.adjustments - moved, row.consumed, row.provisional)
            if got != want:
                out.append(f"{row.level} {row.pool}/{row.chair}/{row.project}: {want} -> {got}")
        live_rows = svc.visible_balances(
            svc.reads_in(uow, consumption), ADMIN, PERIOD, None, now=now, calendar=CAL
        )
        for b in live_rows:
            if (b.pool_id, b.project_id) not in reported:
                out.append(f"project {b.pool_id}/{b.project_id}: not in the signed report")
    assert PoolKind.LOCAL in {p.kind for p in pools.values()}
    return out


def _check(outcome: RaceOutcome) -> None:
    assert outcome.errors == []
    assert all(outcome.written[k] >= 2 for k in (*KINDS, "usage")), outcome.written
    assert all(outcome.refused[k] >= 1 for k in KINDS), outcome.refused
    assert outcome.entries_after_close == 0, outcome
    assert outcome.mismatches == [], outcome.mismatches


def test_writers_of_every_kind_racing_a_close_never_change_the_closed_period(
    engine: Engine,
) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    _check(race_close(services, writers=20 if engine.dialect.name == "postgresql" else 8))


def test_a_close_that_would_carry_hours_into_a_closed_period_is_refused(engine: Engine) -> None:
    """Closing 2026Q2 after 2026Q3 would post its unused hours into 2026Q3 (the return
    policy): the close is refused naming 2026Q3, and 2026Q2 stays open and unchanged."""
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    seed_world(services.uow(), NOW)
    svc.create_pool(
        services.uow(),
        ADMIN,
        NOW,
        local_pool(id="ret", close_policy=ClosePolicy.RETURN_TO_CHAIR, routes=()),
    )
    svc.allocate_to_project(
        services.uow(), ADMIN, NOW, "ret", "p1", "2026Q2", 10 * H, "q2", True, calendar=CAL
    )
    acc.close_period(services.uow(), ADMIN, NOW, PERIOD, "q3", force=True, calendar=CAL)
    with services.uow() as uow:
        before = list(uow.ledger.entries())
    with pytest.raises(PeriodIsClosed) as err:
        acc.close_period(services.uow(), ADMIN, NOW, "2026Q2", "q2", force=True, calendar=CAL)
    assert err.value.period == PERIOD
    with services.uow() as uow:
        assert list(uow.ledger.entries()) == before
    assert not acc.period_state(services.uow(), "2026Q2", now=NOW, calendar=CAL).closed
