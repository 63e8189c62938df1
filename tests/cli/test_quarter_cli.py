"""The quarter's accounting through the ``gpuhours`` command line, on both backends.

Commands run through click's ``CliRunner`` on ``connectors.cli:main`` with the test's services
(its database and fixed clock, 2026-11-21 09:00 UTC) passed as the context object; what they
print is compared with the HTTP API's answers on the same database. Refusals: exit != 0, one
``gpuhours: error:`` line on stderr, nothing changed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.cli import main
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.builders import seed_world
from tests.cli.test_cli import one_error_line
from tests.conftest import FixedClock
from tests.quarter_support import (
    ALTERED,
    POOL,
    SREPORT,
    q3_job,
    recorded_jobs,
    seed_rig,
    statement_counts,
    store,
)


class Cli:
    """``gpuhours`` on the test's services."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def __call__(self, *args: str) -> Result:
        obj = {"services": self.services}
        return CliRunner().invoke(main, list(args), obj=obj, catch_exceptions=False)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, (args, result.output, result.stderr)
        assert result.stderr == "", result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("-o", "json", *args))


@pytest.fixture
def services(engine: Engine, clock: FixedClock) -> Services:
    sv = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    sv.clock = clock
    seed_world(sv.uow(), clock())
    seed_rig(sv.uow(), clock())
    store(engine, recorded_jobs(), clock())
    return sv


@pytest.fixture
def cli(services: Services) -> Cli:
    return Cli(services)


@pytest.fixture
def api(services: Services, clock: FixedClock) -> Iterator[tuple[TestClient, dict[str, str]]]:
    token = mint_token(services.session_factory, "admin", clock())
    with TestClient(create_app(services=services)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def sreport(tmp_path: Path) -> Path:
    path = tmp_path / "sreport_hour07.psv"
    path.write_bytes(SREPORT)
    return path


def journal(services: Services) -> list[Any]:
    with services.uow() as uow:
        return list(uow.ledger.entries())


IMPORT = ("statements", "import", "--pool", POOL, "--period", "2026Q4", "--format", "sreport")
Q4 = ("--pool", POOL, "--period", "2026Q4")


def test_import_list_reconcile_decide(
    cli: Cli, services: Services, engine: Engine, sreport: Path, tmp_path: Path
) -> None:
    first = cli.json(*IMPORT, str(sreport))
    assert (first["created"], first["file_name"], first["lines"]) == (True, sreport.name, 3)
    assert first["imported_by"].startswith("cli:")
    again = cli.json(*IMPORT, str(sreport), "--file-name", "renamed.psv")
    assert again == {**first, "created": False}
    assert [s["id"] for s in cli.json("statements", "list", "--pool", POOL)] == [first["id"]]
    assert cli.json("statements", "list", "--period", "2026Q3") == []

    rec = cli.json("reconcile", *Q4)
    got = {ln["project_id"]: (ln["ours"], ln["theirs"], ln["status"]) for ln in rec["lines"]}
    assert got == {
        "nlp": (128, 128, "match"),
        "health": (19, 19, "match"),
        "thesis": (87, 87, "match"),
    }
    jobs = cli.json("reconcile", *Q4, "--jobs", "thesis")
    assert sorted(j["job_id"] for j in jobs) == [3, 4, 7]  # job 9 used no GPU: no charge
    assert sum(j["gpu_seconds"] for j in jobs) == 87

    altered = tmp_path / "altered.psv"
    altered.write_bytes(ALTERED)
    assert cli.json(*IMPORT, str(altered))["created"] is True
    nlp = {ln["project_id"]: ln for ln in cli.json("reconcile", *Q4)["lines"]}["nlp"]
    assert (nlp["difference"], nlp["status"]) == (-72, "under")
    wide = cli.json("reconcile", *Q4, "--tolerance-seconds", "72")
    assert {ln["project_id"]: ln["status"] for ln in wide["lines"]}["nlp"] == "match"

    before = journal(services)
    for args, message in [
        (("accept", "--hours", "1"), "hours: an acceptance moves no hours"),
        (("adjust",), "hours: an adjustment needs a non-zero"),
        (("adjust", "--hours", "lots"), "hours: 'lots' is not a signed number of hours"),
        (("adjust", "--hours", "0.0001"), "hours: '0.0001' is not a signed number of hours"),
        (("adjust", "--hours", "-1_0"), "hours: '-1_0' is not a signed number of hours"),
        (("adjust", "--hours", "-\u0661"), "is not a signed number of hours"),
    ]:
        line = one_error_line(cli("decide", *args, *Q4, "--project", "nlp", "--reason", "checked"))
        assert message in line, line
    line = one_error_line(cli("decide", "accept", *Q4, "--project", "p1", "--reason", "x"))
    assert "unknown reconciliation line 'p1'" in line
    assert journal(services) == before

    rec = cli.json(
        "decide", "adjust", *Q4, "--project", "nlp", "--hours", "-0.02", "--reason", "sreport+72"
    )
    nlp = {ln["project_id"]: ln for ln in rec["lines"]}["nlp"]
    assert (nlp["status"], nlp["adjustments"]) == ("adjusted", -72)
    # new: the rig's 2026Q4 capacity (deposited on first use) and the adjustment
    (entry,) = [e for e in journal(services) if e not in before and e.kind == "adjustment"]
    assert (entry.amount, entry.source, entry.reason) == (72, "project:nlp", "sreport+72")
    assert entry.actor.startswith("cli:")
    assert statement_counts(engine) == (2, 6)


def test_a_bad_statement_is_one_line_naming_line_and_column(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.psv"
    bad.write_bytes(SREPORT.replace(b"|carol||gres/gpu|81", b"|carol||gres/gpu|8l"))
    line = one_error_line(cli(*IMPORT, str(bad)))
    assert line == ("gpuhours: error: line 12, column 'Used': '8l' is not a number of seconds"), (
        line
    )
    csv_file = tmp_path / "foreign.csv"
    csv_file.write_text("Compte;Heures\nchair-nlp;1\n")
    mapped = ("statements", "import", "--pool", POOL, "--period", "2026Q4")
    line = one_error_line(cli(*mapped, "--format", "mapped-csv", str(csv_file)))
    assert line.startswith("gpuhours: error: map_account: "), line
    line = one_error_line(
        cli(*mapped, "--format", "sreport", "--map-account", "Compte", str(csv_file))
    )
    assert line.startswith("gpuhours: error: map_account: only for the mapped-csv"), line
    line = one_error_line(cli(*mapped, "--format", "excel", str(csv_file)))
    assert "--format" in line
    assert statement_counts(engine) == (0, 0)
    imported = cli.json(
        *mapped,
        "--format",
        "mapped-csv",
        "--map-account",
        "Compte",
        "--map-hours",
        "Heures",
        str(csv_file),
    )
    assert imported["lines"] == 1 and imported["format"] == "mapped-csv"


def test_report_prints_the_same_csv_as_the_api(
    cli: Cli, api: tuple[TestClient, dict[str, str]], sreport: Path, tmp_path: Path
) -> None:
    cli.ok(*IMPORT, str(sreport))
    client, h = api
    text = cli.ok("report", "--period", "2026Q4", "--format", "csv")
    r = client.get("/api/v1/reports/2026Q4", params={"format": "csv"}, headers=h)
    assert r.status_code == 200, r.text
    assert text == r.text
    rows = list(csv.DictReader(io.StringIO(text)))
    nlp = next(row for row in rows if row["project"] == "nlp")
    assert (nlp["gpu_hours"], nlp["statement_hours"], nlp["status"]) == ("0.04", "0.04", "match")

    assert (
        cli.ok("report", "--period", "2026Q4")
        == client.get("/api/v1/reports/2026Q4", headers=h).text
    )
    html = cli.ok("report", "--period", "2026Q4", "--format", "html")
    assert "<svg" in html
    out = tmp_path / "q4.html"
    written = cli.json("report", "--period", "2026Q4", "--format", "html", "--output", str(out))
    assert written["output"] == str(out) and out.read_text() == html
    one_error_line(cli("report", "--period", "2026Q9", "--format", "csv"))


def test_close_then_late_usage_and_burn(
    cli: Cli, services: Services, engine: Engine, clock: FixedClock
) -> None:
    line = one_error_line(cli("close", "--period", "2026Q4", "--reason", "early"))
    assert "2026Q4 has not ended yet" in line
    store(engine, [q3_job(101, 10, 3600)], clock())
    signed = cli.ok("close", "--period", "2026Q3", "--reason", "Q3 signed off")
    assert json.loads(signed)["closed_at"] == clock().isoformat()
    assert cli.ok("report", "--period", "2026Q3") == signed
    store(engine, [q3_job(102, 20, 7200)], clock())  # late: after the close
    assert cli.ok("report", "--period", "2026Q3") == signed
    q4 = cli.ok("report", "--period", "2026Q4", "--format", "csv")
    nlp = next(row for row in csv.DictReader(io.StringIO(q4)) if row["project"] == "nlp")
    assert nlp["late_hours"] == "2.00"

    before = journal(services)
    line = one_error_line(cli("close", "--period", "2026Q3", "--reason", "again"))
    assert line == "gpuhours: error: period: 2026Q3 is closed; its figures never change"
    line = one_error_line(
        cli(
            "allocate",
            "chair",
            "--pool",
            POOL,
            "--chair",
            "rig-chair",
            "--period",
            "2026Q3",
            "--hours",
            "1",
            "--reason",
            "late",
        )
    )
    assert "2026Q3 is closed" in line
    assert journal(services) == before

    rows = cli.json("burn", "--period", "2026Q4", "--pool", POOL)
    by_project = {row["project_id"]: row for row in rows}
    assert set(by_project) == {"nlp", "health", "thesis"}
    # 128 + 7 200 late GPU-seconds consumed; late usage is old usage, not burn: 128 s today
    assert by_project["nlp"]["consumed_seconds"] == 7328
    assert by_project["nlp"]["burn_rate_7d_hours_per_day"] == 0.006
    one_error_line(cli("burn", "--period", "Q4"))
