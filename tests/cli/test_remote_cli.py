"""A researcher on another machine: a second data directory with no database access, the
real ``gpuhours`` command in processes of its own, against a real ``gpuhours serve`` (SQLite
and PostgreSQL). ``login`` checks the token and keeps it 0600; submit, list, show and withdraw
then go through the API as that researcher; refusals, an unknown token and an unreachable
server each end in one line and a non-zero exit."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from allocator.periods import period_containing
from connectors.bootstrap import build
from connectors.settings import Settings
from connectors.tokens import mint_token
from tests.builders import seed_world
from tests.scheduler.test_replicas import Worker, start_worker, stop
from tests.scheduler.test_serve import free_port, healthy
from tests.scheduler.test_token_replicas import database_url, pg_database_url

__all__ = ["database_url", "pg_database_url"]  # fixtures


@dataclass
class Machine:
    """Another computer: its own home, config and data directory; no database URL."""

    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("GPUHOURS_")}
        return {
            **base,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "GPUHOURS_DATA_DIR": str(self.home / "data"),
            **extra,
        }

    def run(self, *args: str, stdin: str = "", **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "connectors.cli", *args],
            cwd=self.home,
            env=self.env(**extra),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def ok(self, *args: str, stdin: str = "", **extra: str) -> str:
        done = self.run(*args, stdin=stdin, **extra)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))

    def refused(self, *args: str, stdin: str = "", **extra: str) -> tuple[int, str]:
        """Exit code and the one stderr line of a refused command (nothing on stdout)."""
        done = self.run(*args, stdin=stdin, **extra)
        assert done.returncode != 0, (args, done.stdout)
        assert done.stdout == "", done.stdout
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("gpuhours: error: "), done.stderr
        return done.returncode, lines[0]


@dataclass
class Server:
    url: str
    alice: str  # a researcher's token, member of p1 and p1b
    bob: str
    admin: str


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    services = build(Settings(database_url=database_url))
    now = datetime.now(UTC)
    try:
        seed_world(services.uow(), now)
        tokens = [mint_token(services.session_factory, u, now) for u in ("alice", "bob", "admin")]
    finally:
        services.engine.dispose()
    port = free_port()
    env = {"GPUHOURS_DATABASE_URL": database_url, "GPUHOURS_DATA_DIR": str(tmp_path / "srv")}
    process: Worker = start_worker(
        "api", env, tmp_path, ["serve", "--no-scheduler", "--port", str(port)]
    )
    try:
        assert healthy(port), process.output()
        yield Server(f"http://127.0.0.1:{port}", *tokens)
    finally:
        stop([process])


@pytest.fixture
def laptop(tmp_path: Path) -> Machine:
    home = tmp_path / "laptop"
    home.mkdir()
    return Machine(home)


def current() -> str:
    return period_containing(datetime.now(UTC)).label


@pytest.mark.slow
def test_a_researcher_logs_in_then_submits_lists_and_withdraws_through_the_api(
    server: Server, laptop: Machine
) -> None:
    _code, line = laptop.refused("login", "--server", server.url, stdin="gph_" + "x" * 43 + "\n")
    reason = "refuses this token (revoked, expired or mistyped)"
    assert line == f"gpuhours: error: token: {server.url} {reason}"
    _code, line = laptop.refused("login", "--server", server.url, stdin="\n")
    assert "no token given" in line
    assert not (laptop.home / ".config" / "gpuhours").exists()  # nothing kept

    out = laptop.ok("login", "--server", server.url, stdin=server.alice + "\n")
    config = laptop.home / ".config" / "gpuhours" / "config.json"
    assert out.strip() == f"logged in to {server.url} as alice (researcher); token kept in {config}"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert json.loads(config.read_text())["token"] == server.alice
    me = laptop.json("whoami")
    assert (me["username"], me["role"], me["server"]) == ("alice", "researcher", server.url)

    submitted = laptop.json(
        "requests", "submit", "--project", "p1", "--pool", "loc",
        "--hours", f"{current()}=12.5", "--justification", "fine-tuning runs",
    )  # fmt: skip
    assert submitted["requester"] == "alice" and submitted["state"] == "submitted"
    assert submitted["lines"][0]["requested_seconds"] == 45_000
    request_id = submitted["id"]

    table = laptop.ok("requests", "list")
    header, *rows = table.splitlines()
    assert header.split()[:4] == ["ID", "PROJECT_ID", "POOL_ID", "STATE"]
    assert [r.split()[:4] for r in rows] == [[str(request_id), "p1", "loc", "submitted"]]
    assert laptop.json("requests", "show", str(request_id))["justification"] == "fine-tuning runs"
    assert {b["project_id"] for b in laptop.json("balances", "--period", current())} <= {
        "p1",
        "p1b",
    }

    assert laptop.json("jobs", "--period", current()) == []  # no usage ingested yet
    assert laptop.ok("jobs").split()[:3] == ["PROJECT_ID", "POOL_ID", "CLUSTER"]

    # refused by the server: one line, the server's reason, exit 2, nothing changed
    code, line = laptop.refused(
        "requests", "submit", "--project", "p2", "--pool", "loc",
        "--hours", f"{current()}=1", "--justification", "not mine",
    )  # fmt: skip
    assert code == 2 and "unknown project 'p2'" in line
    code, _line = laptop.refused("requests", "approve", str(request_id))
    assert code == 2
    assert laptop.json("requests", "show", str(request_id))["state"] == "submitted"

    withdrawn = laptop.json("requests", "withdraw", str(request_id), "--reason", "done")
    assert withdrawn["state"] == "withdrawn" and withdrawn["decided_by"] == "alice"
    code, line = laptop.refused("requests", "withdraw", str(request_id))
    assert code == 2 and "withdrawn" in line

    # an admin elsewhere sees what alice did (scripts: the environment instead of a login)
    done = laptop.run(
        "-o", "json", "requests", "show", str(request_id),
        GPUHOURS_SERVER=server.url, GPUHOURS_TOKEN=server.admin,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "withdrawn"

    # the laptop never had a database
    assert not (laptop.home / "data").exists()
    assert not any(laptop.home.rglob("*.db"))
    code, line = laptop.refused("statements", "list")  # the server's refusal: staff's list
    assert code == 2 and "this needs admin or engineer" in line
    code, line = laptop.refused("ingest", "--cluster", "enact-dev")  # the server host's job
    assert f"logged in to {server.url}" in line and "--local" in line

    assert laptop.ok("logout", "--revoke").startswith("logged out")
    assert not config.exists()
    code, line = laptop.refused("whoami", GPUHOURS_SERVER=server.url, GPUHOURS_TOKEN=server.alice)
    assert "gpuhours login" in line  # the revoked token is refused at once
