"""The real ``gpuhours`` command line, on a temporary SQLite file.

Commands run through click's ``CliRunner`` on ``connectors.cli:main`` with
``GPUHOURS_DATABASE_URL`` pointing at the file, exactly as an operator would run them; the
database is then read back directly. Every refused command must exit non-zero with exactly one
line on stderr, ``gpuhours: error: <field>: <reason>``, and change nothing.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from allocator.periods import period_containing
from connectors.bootstrap import build
from connectors.cli import main
from connectors.db.engine import make_engine
from connectors.db.identities import SqlIdentities
from connectors.demo_data import USERS
from connectors.http.app import create_app
from connectors.settings import Settings

REPO = Path(__file__).resolve().parents[2]
STATES = {"submitted", "approved", "partially_approved", "rejected", "withdrawn"}


class Cli:
    """``gpuhours`` against one SQLite file."""

    def __init__(self, db: Path) -> None:
        self.url = f"sqlite:///{db}"
        self.env = {"GPUHOURS_DATABASE_URL": self.url, "GPUHOURS_DATA_DIR": str(db.parent)}

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=self.env, catch_exceptions=False)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, (args, result.output, result.stderr)
        assert result.stderr == "", result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("-o", "json", *args))

    def state(self) -> dict[str, list[Any]]:
        """Everything a refused command must leave untouched, read from the database."""
        services = build(Settings(database_url=self.url))
        try:
            with services.uow() as uow:
                return {
                    "journal": list(uow.ledger.entries()),
                    "audit": list(uow.audit.list()),
                    "requests": list(uow.requests.list()),
                    "pools": list(uow.pools.list()),
                    "users": list(uow.users.list()),
                }
        finally:
            services.engine.dispose()


def one_error_line(result: Result) -> str:
    """The refusal contract: exit != 0, nothing on stdout, one ``gpuhours: error:`` line."""
    assert result.exit_code != 0, result.output
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gpuhours: error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cli-demo") / "demo.db"
    cli = Cli(db)
    assert cli.ok("migrate").strip() == "database at head"
    assert cli.ok("demo").strip() == "demo data seeded (528 demo jobs)"
    return db


@pytest.fixture
def empty(tmp_path: Path) -> Cli:
    """A migrated, empty database."""
    cli = Cli(tmp_path / "gpuhours.db")
    cli.ok("migrate")
    return cli


@pytest.fixture
def demo(tmp_path: Path, _demo_template: Path) -> Cli:
    """A copy of a database seeded once with ``gpuhours demo``."""
    db = tmp_path / "gpuhours.db"
    # The database is in WAL mode: copy it through SQLite, not the main file alone.
    with closing(sqlite3.connect(_demo_template)) as src, closing(sqlite3.connect(db)) as dst:
        src.backup(dst)
    return Cli(db)


def current_period() -> str:
    """The quarter the demo seeded (``gpuhours demo`` uses the real clock)."""
    return period_containing(datetime.now(UTC)).label


# --- migrate and demo ----------------------------------------------------------------------------


def test_migrate_then_demo_seeds_the_organisation(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "fresh.db")
    assert cli.ok("migrate") == "database at head\n"
    assert cli.ok("migrate") == "database at head\n"  # idempotent
    assert cli.ok("demo") == "demo data seeded (528 demo jobs)\n"

    assert len(cli.json("chairs", "list")) == 9
    assert len(cli.json("projects", "list")) == 17
    assert {p["kind"] for p in cli.json("pools", "list")} == {"national", "local"}
    assert len(cli.json("pools", "list")) == 2
    requests = cli.json("requests", "list")
    assert {r["state"] for r in requests} == STATES
    for state in STATES:
        assert {r["state"] for r in cli.json("requests", "list", "--state", state)} == {state}
    journal = cli.json("journal")
    assert journal and all(e["amount_seconds"] > 0 for e in journal)
    # alice and marie once signed in with their institution's account, claiming theirs
    people = SqlIdentities(make_engine(cli.url)).people()
    linked = {p.user.username: [link.provider for link in p.links] for p in people if p.links}
    assert linked == {"alice": ["unistra"], "eng-marie": ["inria"]}
    assert len(people) == len(USERS)  # claimed, not created


def test_demo_twice_is_refused_in_one_line_and_changes_nothing(demo: Cli) -> None:
    before = demo.state()
    line = one_error_line(demo("demo"))
    assert "already has pools" in line
    assert demo.state() == before


# --- tokens --------------------------------------------------------------------------------------


def test_token_create_prints_a_token_that_authenticates_against_the_app(empty: Cli) -> None:
    out = empty.ok(
        "token", "create", "--user", "zoe", "--role", "engineer", "--note", "ci", "--new-user"
    )
    assert out.count("\n") == 1
    token = out.strip()
    assert token.startswith("gph_")
    again = empty.ok("token", "create", "--user", "zoe", "--role", "engineer").strip()
    assert again.startswith("gph_") and again != token

    services = build(Settings(database_url=empty.url))
    try:
        with TestClient(create_app(services=services)) as client:
            for t in (token, again):
                r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {t}"})
                assert r.status_code == 200, r.text
                assert r.json()["username"] == "zoe"
                assert r.json()["role"] == "engineer"
            r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}x"})
            assert r.status_code == 401
    finally:
        services.engine.dispose()


def test_token_for_an_existing_user_with_another_role_is_refused(demo: Cli) -> None:
    before = demo.state()
    line = one_error_line(demo("token", "create", "--user", "alice", "--role", "admin"))
    assert line.startswith("gpuhours: error: role: ")
    assert "alice is researcher, not admin" in line
    assert demo.state() == before


def test_a_scrape_token_reads_metrics_and_nothing_else(empty: Cli) -> None:
    token = empty.ok(
        "token", "create", "--user", "prometheus", "--role", "scraper", "--new-user"
    ).strip()
    services = build(Settings(database_url=empty.url))
    try:
        with TestClient(create_app(services=services)) as client:
            h = {"Authorization": f"Bearer {token}"}
            assert client.get("/metrics", headers=h).status_code == 200
            r = client.get("/api/v1/me", headers=h)
            assert r.status_code == 403, r.text
    finally:
        services.engine.dispose()


# --- refused commands: one line naming the field, nothing changed ---------------------------------

TO_CHAIR = ("allocate", "chair", "--pool", "enact-local", "--chair", "chair-nlp")
TO_PROJECT = ("allocate", "project", "--pool", "ai2f-jz", "--project", "proj-thesis-01")
BAD = [
    pytest.param(
        [*TO_CHAIR, "--hours", "-5"],
        "hours: '-5' is not a positive number of hours",
        id="allocate-negative-hours",
    ),
    pytest.param(
        [*TO_CHAIR, "--hours", "0"],
        "hours: '0' is not a positive number of hours",
        id="allocate-zero-hours",
    ),
    pytest.param(
        [*TO_CHAIR, "--hours", "1e12"],
        "hours: '1e12' is not a positive number of hours",
        id="allocate-absurd-hours",
    ),
    pytest.param(
        [*TO_CHAIR, "--hours", "1_000"],
        "hours: '1_000' is not a positive number of hours ('1_000' is not written as hours",
        id="allocate-hours-with-underscore",
    ),
    pytest.param(
        [*TO_CHAIR, "--hours", " 1 "],
        "hours: ' 1 ' is not a positive number of hours",
        id="allocate-hours-with-spaces",
    ),
    pytest.param(
        [*TO_CHAIR, "--hours", "\u0661\u0662"],
        "is not a positive number of hours",
        id="allocate-arabic-indic-hours",
    ),
    pytest.param(
        [*TO_CHAIR, "--hours", "0.0025"],
        "hours: '0.0025' is not a positive number of hours ('0.0025' has more than 3 decimals)",
        id="allocate-hours-with-four-decimals",
    ),
    pytest.param(
        ["requests", "approve", "2", "--grant", "2026Q4= 0"],
        "grant: ' 0' is not a positive number of hours",
        id="approve-grant-with-a-space",
    ),
    pytest.param(
        [*TO_CHAIR, "--hours", "lots"],
        "hours: 'lots' is not a positive number of hours",
        id="allocate-non-numeric-hours",
    ),
    pytest.param(
        ["allocate", "chair", "--pool", "nope", "--chair", "chair-nlp", "--hours", "5"],
        "unknown pool 'nope'",
        id="allocate-unknown-pool",
    ),
    pytest.param(
        ["allocate", "chair", "--pool", "enact-local", "--chair", "nope", "--hours", "5"],
        "unknown chair 'nope'",
        id="allocate-unknown-chair",
    ),
    pytest.param(
        ["allocate", "project", "--pool", "enact-local", "--project", "nope", "--hours", "5"],
        "unknown project 'nope'",
        id="allocate-unknown-project",
    ),
    pytest.param(
        [*TO_CHAIR, "--hours", "500000"],
        "hours: over-commit refused: pool enact-local",
        id="allocate-over-commit-pool",
    ),
    pytest.param(
        [*TO_PROJECT, "--hours", "999999"],
        "hours: over-commit refused: chair chair-nlp",
        id="allocate-over-commit-chair",
    ),
    pytest.param(
        [*TO_CHAIR, "--hours", "1", "--period", "2026Q9"],
        "period: '2026Q9' is not a period label",
        id="allocate-malformed-period",
    ),
    pytest.param(
        ["balances", "--period", "2026Q9"],
        "period: '2026Q9' is not a period label",
        id="balances-malformed-period",
    ),
    pytest.param(
        ["pools", "balance", "enact-local", "--period", "Q3"],
        "period: 'Q3' is not a period label",
        id="pool-balance-malformed-period",
    ),
    pytest.param(
        ["requests", "list", "--state", "pending"],
        "state: 'pending' is not one of submitted, approved",
        id="requests-unknown-state",
    ),
    pytest.param(
        ["requests", "approve", "2", "--grant", "2026Q4=abc"],
        "grant: 'abc' is not a positive number of hours",
        id="approve-non-numeric-grant",
    ),
    pytest.param(
        ["requests", "approve", "2"],
        "state: request 2 is approved; it cannot be approved",
        id="approve-an-approved-request",
    ),
    pytest.param(
        ["requests", "reject", "4", "--reason", "again"],
        "state: request 4 is rejected; it cannot be rejected",
        id="reject-a-rejected-request",
    ),
    pytest.param(
        ["requests", "approve", "999"],
        "unknown request 999",
        id="approve-unknown-request",
    ),
    pytest.param(
        ["projects", "map-account", "proj-thesis-01", "--cluster", "enact-local", "--account", "x"],
        "cluster: 'enact-local' is not a cluster gpuhours knows (configured, or routed by a pool);"
        " known clusters: enact-dev, jean-zay",
        id="map-account-pool-name-as-cluster",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_is_one_line_naming_the_field_and_changes_nothing(
    demo: Cli, args: list[str], message: str
) -> None:
    if args[0] == "allocate" and "--period" not in args:
        args = [*args, "--period", current_period(), "--reason", "test"]
    elif args[0] == "allocate":
        args = [*args, "--reason", "test"]
    before = demo.state()
    line = one_error_line(demo(*args))
    assert message in line, line
    assert demo.state() == before


def test_balances_refuses_a_malformed_period_even_on_an_empty_database(empty: Cli) -> None:
    line = one_error_line(empty("balances", "--period", "2026Q9"))
    assert line.startswith("gpuhours: error: period: ")


def test_a_local_pool_with_a_grant_leaves_no_pool_behind(empty: Cli, tmp_path: Path) -> None:
    definition = tmp_path / "pool.json"
    definition.write_text(
        json.dumps(
            {
                "id": "lab",
                "name": "lab cluster",
                "kind": "local",
                "inventory": [{"gpu_type": "a100", "count": 1}],
                "grant_hours": 5,
            }
        )
    )
    before = empty.state()
    one_error_line(empty("pools", "create", str(definition)))
    assert empty.state() == before
    assert empty.json("pools", "list") == []


# --- the installed entry points -----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([sys.executable, "-m", "connectors.cli", "--help"], id="python-m"),
        pytest.param([str(Path(sys.executable).parent / "gpuhours"), "--help"], id="script"),
    ],
)
def test_gpuhours_help_exits_zero(command: list[str], tmp_path: Path) -> None:
    if not Path(command[0]).exists():
        pytest.fail(f"{command[0]} is missing: install the project (pip install -e .)")
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "gpuhours: GPU-hours allocation" in done.stdout
    for group in ("allocate", "balances", "demo", "migrate", "requests", "token"):
        assert group in done.stdout


def test_usage_errors_are_one_line_too() -> None:
    """A missing option or an unknown command: exit 2 and a single line on stderr."""
    import subprocess
    import sys

    for argv in (["allocate", "chair", "--pool", "x"], ["no-such-command"]):
        done = subprocess.run(
            [sys.executable, "-m", "connectors.cli", *argv],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("gpuhours: error: ")


def test_every_amount_the_local_cli_prints_says_its_unit(demo: Cli) -> None:
    """As the API's answers do: ai2f-jz counts normalised hours, enact-local GPU-hours."""
    period = current_period()
    units = {p["id"]: p["unit"] for p in demo.json("pools", "list")}
    assert len(set(units.values())) > 1
    moved = demo.json(*TO_CHAIR, "--period", period, "--hours", "2", "--reason", "unit")
    assert moved["unit"] == units["enact-local"]
    listings = {
        "balances": demo.json("balances", "--period", period),
        "journal": demo.json("journal"),
        "requests": demo.json("requests", "list"),
        "burn": demo.json("burn", "--period", period),
    }
    for name, rows in listings.items():
        assert rows, name
        for row in rows:
            assert row["unit"] == units[row["pool_id"]], (name, row)
