"""Two real ``gpuhours worker`` processes on one database: exactly one schedules, and when it is
killed (``kill -9``) the other takes over.

Each worker polls the same fake slurmrestd every second, with its own token, so every request
names the process that sent it. The logs must agree: one ``leader``, one ``standby``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from connectors.db.engine import make_engine
from connectors.db.migrate import upgrade
from tests.conftest import NO_PG, PG_URL
from tests.scheduler.conftest import FakeSlurmrestd

REPO = Path(__file__).resolve().parents[2]
INTERVAL = 1.0  # seconds between two ingestions
RETRY = 0.5  # seconds between two tries of a standby
SLACK = 2.0  # process scheduling, a job start, a connection: generous on a loaded machine
OBSERVE = 3.5  # seconds of watching, about three intervals


@dataclass
class Worker:
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker(
    token: str, env: dict[str, str], tmp_path: Path, args: Sequence[str] = ("worker",)
) -> Worker:
    """``gpuhours <args>`` in a process of its own, sending ``token`` to slurmrestd."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GPUHOURS_")}
    log = tmp_path / f"{token}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "connectors.cli", *args],
            cwd=REPO,
            env={**base, **env, "GPUHOURS_TEST_SLURM_TOKEN": token},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Worker(token, process, log)


def worker_env(database_url: str, slurmrestd: FakeSlurmrestd) -> dict[str, str]:
    cluster = {
        "name": "alpha",
        "url": slurmrestd.url,
        "api_version": "v0.0.38",
        "token_env": "GPUHOURS_TEST_SLURM_TOKEN",
        "interval_seconds": int(INTERVAL),
        "retries": 0,
        "timeout_seconds": 5,
        "initial_lookback_seconds": 600,
        "overlap_seconds": 60,
    }
    return {
        "GPUHOURS_DATABASE_URL": database_url,
        "GPUHOURS_CLUSTERS": json.dumps([cluster]),
        "GPUHOURS_LEADER_RETRY_SECONDS": str(RETRY),
        "GPUHOURS_LOG_LEVEL": "info",
    }


def stop(workers: list[Worker]) -> None:
    for w in workers:
        if w.process.poll() is None:
            w.process.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            w.process.kill()
            w.process.wait()


def exercise_failover(env: dict[str, str], slurmrestd: FakeSlurmrestd, tmp_path: Path) -> None:
    workers = [start_worker(token, env, tmp_path) for token in ("worker-a", "worker-b")]
    try:
        first = slurmrestd.wait_for(None, 0.0, timeout=20)
        assert first is not None, [w.output() for w in workers]
        time.sleep(OBSERVE)
        tokens = {who for _, who in slurmrestd.seen()}
        assert len(tokens) == 1, f"requests from {tokens}: more than one scheduler"
        assert len(slurmrestd.seen()) >= 3
        leader = next(w for w in workers if w.token in tokens)
        standby = next(w for w in workers if w is not leader)
        assert "is the leader" in leader.output()
        assert "standby" in standby.output() and "is the leader" not in standby.output()

        leader.process.kill()  # kill -9: no clean-up, the lock must free itself
        killed = time.monotonic()
        leader.process.wait()
        took_over = slurmrestd.wait_for(standby.token, killed, timeout=INTERVAL + RETRY + 15)
        assert took_over is not None, standby.output()
        takeover = took_over - killed
        print(f"\ntakeover after kill -9: {takeover:.2f} s (bound {INTERVAL + RETRY + SLACK} s)")
        assert takeover <= INTERVAL + RETRY + SLACK
        assert "is the leader" in standby.output()

        time.sleep(OBSERVE)
        after = slurmrestd.seen(killed)
        assert {who for _, who in after} == {standby.token}
        assert len(after) >= 3

        standby.process.send_signal(signal.SIGTERM)
        assert standby.process.wait(timeout=15) == 0
        assert standby.output().rstrip().endswith("stopped"), standby.output()[-500:]
    finally:
        stop(workers)


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A database of its own on the configured server, migrated, dropped afterwards."""
    server = make_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"gpuhours_sched_{os.getpid()}_{secrets.token_hex(3)}"
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, poolclass=NullPool)
    try:
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        engine.dispose()
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason=NO_PG)
def test_two_workers_on_postgresql_one_schedules_and_the_other_takes_over(
    pg_database_url: str, slurmrestd: FakeSlurmrestd, tmp_path: Path
) -> None:
    exercise_failover(worker_env(pg_database_url, slurmrestd), slurmrestd, tmp_path)


@pytest.mark.slow
def test_two_workers_on_one_sqlite_file_one_schedules_and_the_other_takes_over(
    slurmrestd: FakeSlurmrestd, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'gpuhours.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    exercise_failover(worker_env(url, slurmrestd), slurmrestd, tmp_path)
