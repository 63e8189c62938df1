"""An administrator on another machine runs the quarter through the API: grants, allocations,
a pool, a statement imported, reconciled and decided, the report and the close, ingestion's
health and usage, with the real ``gpuhours`` command against a real ``gpuhours serve``
(SQLite and PostgreSQL). On the server host, ``--local`` prints the same JSON for the same
reads: one command, two ways in, one answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from allocator.periods import period_containing
from tests.cli.test_remote_cli import Machine, Server, current, laptop, server
from tests.scheduler.test_token_replicas import database_url, pg_database_url

__all__ = ["database_url", "laptop", "pg_database_url", "server"]  # fixtures


def previous() -> str:
    """The period before the current one (ended: it can be closed)."""
    start = period_containing(datetime.now(UTC)).start
    return period_containing(start - timedelta(seconds=1)).label


def _host(database_url: str, tmp_path: Path) -> Machine:
    """The server host: its database at hand, no login."""
    home = tmp_path / "host"
    home.mkdir()
    return _HostMachine(home, database_url)


class _HostMachine(Machine):
    def __init__(self, home: Path, database_url: str) -> None:
        super().__init__(home)
        self.database_url = database_url

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(GPUHOURS_DATABASE_URL=self.database_url, **extra)


def reads_of(now: str, last: str) -> list[tuple[str, ...]]:
    """The reads whose JSON must be the same remotely and with ``--local``."""
    return [
        ("statements", "list"),
        ("reconcile", "--pool", "nat", "--period", last),
        ("reconcile", "--pool", "nat", "--period", last, "--jobs", "p1"),
        ("clusters", "status"),
        ("usage", "accounts", "--period", now),
        ("usage", "quarantine"),
        ("journal", "--pool", "nat"),
        ("requests", "list"),
        ("balances", "--period", now),
        ("burn", "--period", now),
        ("pools", "list"),
        ("users", "list"),
    ]


def _same_reads(laptop: Machine, host: Machine, *commands: tuple[str, ...]) -> None:
    for command in commands:
        remote: Any = laptop.json(*command)
        local: Any = json.loads(host.ok("--local", *command, "-o", "json"))
        assert remote == local, command


@pytest.mark.slow
def test_an_admin_elsewhere_runs_the_quarter_through_the_api(
    server: Server, laptop: Machine, database_url: str, tmp_path: Path
) -> None:
    now, last = current(), previous()
    laptop.ok("login", "--server", server.url, stdin=server.admin + "\n")
    assert laptop.json("whoami")["role"] == "admin"

    grant = laptop.json("pools", "grant", "nat", "--hours", "10", "--reason", "top-up")
    assert {e["kind"] for e in grant} == {"deposit"}
    assert {e["unit"] for e in grant} == {"normalised-gpu-hour"}
    assert sum(e["amount_seconds"] for e in grant) == 36_000
    to_chair = laptop.json(
        "allocate", "chair", "--pool", "nat", "--chair", "chair-a", "--period", now,
        "--hours", "5", "--reason", "share",
    )  # fmt: skip
    assert (to_chair["target"], to_chair["amount_seconds"]) == ("chair:chair-a", 18_000)
    to_project = laptop.json(
        "allocate", "project", "--pool", "nat", "--project", "p2", "--period", now,
        "--hours", "2", "--reason", "thesis", "--draw-from-pool",
    )  # fmt: skip
    assert to_project["target"] == "project:p2"
    assert to_project["drawn_from_pool"]["target"] == "chair:chair-b"  # chair-b had nothing

    definition = laptop.home / "pool.json"
    definition.write_text(
        json.dumps(
            {
                "id": "gpu2",
                "name": "GPU 2",
                "kind": "local",
                "inventory": [{"gpu_type": "a100", "count": 2}],
            }
        )
    )
    assert laptop.json("pools", "create", str(definition))["id"] == "gpu2"

    laptop.json("projects", "map-account", "p1", "--cluster", "jean-zay", "--account", "jz-p1")
    statement = laptop.home / "statement.csv"
    statement.write_text(
        "project_account,hardware,period,hours_consumed,normalised_hours\n"
        f"jz-p1,a100,{last},1.5,3\n"
    )
    imported = laptop.json(
        "statements", "import", str(statement), "--pool", "nat", "--period", last,
        "--format", "national-csv",
    )  # fmt: skip
    assert imported["created"] is True and imported["file_name"] == "statement.csv"
    rec = laptop.json("reconcile", "--pool", "nat", "--period", last)
    [line] = [x for x in rec["lines"] if x["project_id"] == "p1"]
    assert line["status"] != "match"  # 3 h on the statement, nothing ingested
    decided = laptop.json(
        "decide", "accept", "--pool", "nat", "--period", last, "--project", "p1",
        "--reason", "the centre's figure",
    )  # fmt: skip
    [line] = [x for x in decided["lines"] if x["project_id"] == "p1"]
    assert line["status"] == "accepted"

    host = _host(database_url, tmp_path)
    # one answer, two ways in: the CLI's own code, alike on either database (all compared once)
    reads = reads_of(now, last)
    _same_reads(laptop, host, *(reads if database_url.startswith("sqlite") else reads[:2]))
    csv_remote = laptop.ok("report", "--period", last, "--format", "csv")
    assert csv_remote == host.ok("--local", "report", "--period", last, "--format", "csv")
    assert "open" in csv_remote and "jz-p1" not in csv_remote  # by project, not account

    signed = json.loads(laptop.ok("close", "--period", last, "--reason", "quarter done", "--force"))
    assert (signed["state"], signed["closed_by"]) == ("closed", "admin")
    report = json.loads(laptop.ok("report", "--period", last))
    assert report == signed  # a closed period's report is the one signed at close
    code, line = laptop.refused(
        "allocate", "chair", "--pool", "nat", "--chair", "chair-a", "--period", last,
        "--hours", "1", "--reason", "late",
    )  # fmt: skip
    assert code == 2 and "closed" in line

    # refusals in the CLI's own words, before anything is sent
    code, line = laptop.refused("pools", "grant", "nat", "--hours", "-1", "--reason", "x")
    assert code == 2 and line.startswith("gpuhours: error: hours: ")
    code, line = laptop.refused(
        "reconcile", "--pool", "nat", "--period", last, "--tolerance-percent", "200"
    )
    assert "tolerance_percent" in line
    assert not (laptop.home / "data").exists()  # the laptop never had a database
