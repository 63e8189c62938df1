"""``gpuhours serve`` runs the API and the scheduler; ``--no-scheduler`` runs the API only."""

from __future__ import annotations

import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from connectors.db.engine import make_engine
from connectors.db.migrate import upgrade
from tests.scheduler.conftest import FakeSlurmrestd
from tests.scheduler.test_replicas import INTERVAL, start_worker, worker_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int, timeout: float = 60.0) -> bool:
    """True once ``/healthz`` answers 200: the wait ends at the first answer; the generous
    deadline only covers a start-up slowed by a loaded machine (imports under CPU contention)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            time.sleep(0.1)
    return False


def answer_headers(port: int, path: str) -> dict[str, str]:
    """The headers of the answer to ``GET path`` (an error status too)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as exc:
        return {k.lower(): v for k, v in exc.headers.items()}


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", [True, False], ids=["serve", "serve-no-scheduler"])
def test_serve_schedules_unless_told_not_to(
    scheduler: bool, slurmrestd: FakeSlurmrestd, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'gpuhours.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    args = ["serve", "--port", str(port)] + ([] if scheduler else ["--no-scheduler"])
    server = start_worker("serve", worker_env(url, slurmrestd), tmp_path, args)
    try:
        assert healthy(port), server.output()
        for path in ("/healthz", "/api/v1/pools", "/no/such/path"):  # 200, 401, 404
            headers = answer_headers(port, path)
            assert "server" not in headers, headers  # no uvicorn banner
            assert headers["x-content-type-options"] == "nosniff", headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"], headers
        first = slurmrestd.wait_for("serve", 0.0, timeout=3 * INTERVAL)
        assert (first is not None) == scheduler, server.output()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=15)
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    if scheduler:  # the scheduler stopped cleanly, after the API
        assert code == 0
        assert server.output().rstrip().endswith("stopped"), server.output()[-500:]
    else:
        assert "scheduler" not in server.output()
