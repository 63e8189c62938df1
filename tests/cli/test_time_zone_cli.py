"""``GPUHOURS_TIME_ZONE`` on the command line: the demo in Paris time, and a changed zone refused.

The demo runs in ``Europe/Paris`` (``deploy/dev.sh demo``). An operator who then starts
gpuhours on the same database without the setting (UTC) is refused in one line naming both
zones, before anything is read or written.
"""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import Cli, one_error_line


def paris(db: Path) -> Cli:
    cli = Cli(db)
    cli.env = {**cli.env, "GPUHOURS_TIME_ZONE": "Europe/Paris"}
    return cli


def test_the_demo_booked_in_paris_refuses_to_start_in_utc(tmp_path: Path) -> None:
    db = tmp_path / "gpuhours.db"
    assert paris(db).ok("migrate") == "database at head\n"
    assert paris(db).ok("demo") == "demo data seeded (528 demo jobs)\n"
    before = paris(db).ok("journal")

    utc = Cli(db)
    for command in (("migrate",), ("pools", "list"), ("journal",)):
        line = one_error_line(utc(*command))
        assert line.startswith("gpuhours: error: time_zone: "), line
        assert "GPUHOURS_TIME_ZONE=Europe/Paris" in line and "now UTC" in line, line
    assert paris(db).ok("migrate") == "database at head\n"  # the booked zone still starts
    assert paris(db).ok("journal") == before


def test_an_unknown_time_zone_is_refused_in_one_line(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "gpuhours.db")
    cli.env = {**cli.env, "GPUHOURS_TIME_ZONE": "Europe/Pariss"}
    line = one_error_line(cli("migrate"))
    assert "time_zone" in line and "Europe/Pariss" in line, line
