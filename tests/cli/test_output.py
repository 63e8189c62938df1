"""``-o table|json|csv``: a table for people by default, JSON or CSV for scripts, on every
command that prints data (the gh/kubectl convention), the same rows in each format."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click
import pytest

from connectors.cli import TEXT_COMMANDS, main
from connectors.cli.output import flatten, to_csv
from tests.cli.test_cli import Cli, _demo_template, current_period, demo, one_error_line

__all__ = ["_demo_template", "demo"]  # fixtures


def leaves(group: click.Group, path: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        full = f"{path} {name}".strip()
        if isinstance(command, click.Group):
            found += leaves(command, full)
        else:
            found.append((full, command))
    return found


def rows_of_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_list_prints_as_a_table_by_default(demo: Cli) -> None:
    out = demo.ok("pools", "list")
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
    header, *lines = out.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "KIND"]
    assert sorted(line.split()[0] for line in lines) == ["ai2f-jz", "enact-local"]


def test_the_columns_of_a_table_line_up(demo: Cli) -> None:
    header, *lines = demo.ok("chairs", "list").splitlines()
    where = header.index("NAME")
    assert len(lines) == 9
    assert all(line[where - 2 : where] == "  " and line[where] != " " for line in lines)


@pytest.mark.parametrize(
    "command",
    [
        ("pools", "list"),
        ("chairs", "list"),
        ("projects", "list"),
        ("users", "list"),
        ("requests", "list"),
        ("token", "list"),
        ("balances", "--period", "CURRENT"),
        ("journal",),
    ],
)
def test_json_and_csv_carry_the_same_rows_and_every_field(
    demo: Cli, command: tuple[str, ...]
) -> None:
    args = [current_period() if a == "CURRENT" else a for a in command]
    as_json: list[dict[str, Any]] = demo.json(*args)
    as_csv = rows_of_csv(demo.ok(*args, "-o", "csv"))
    assert len(as_csv) == len(as_json)
    for item, row in zip(as_json, as_csv, strict=True):
        flat = flatten(item)
        assert set(row) >= set(flat)
        for key, value in flat.items():
            if isinstance(value, str | int) and not isinstance(value, bool):
                assert row[key].lstrip("'") == str(value), key


def test_nested_objects_become_dotted_csv_columns(demo: Cli) -> None:
    [row] = [
        r for r in rows_of_csv(demo.ok("pools", "list", "-o", "csv")) if r["id"] == "enact-local"
    ]
    assert row["inventory.a100"] == "4" and row["inventory.h100"] == "4"


def test_the_format_may_come_before_the_command(demo: Cli) -> None:
    assert demo.ok("-o", "json", "chairs", "list") == demo.ok("chairs", "list", "-o", "json")
    assert demo.ok("--output", "csv", "chairs", "list") == demo.ok("chairs", "list", "-o", "csv")


def test_one_object_prints_as_field_and_value(demo: Cli) -> None:
    out = demo.ok("pools", "balance", "enact-local", "--period", current_period())
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines["FIELD"] == "VALUE"
    assert lines["POOL_ID"] == "enact-local"
    assert int(lines["CAPACITY_SECONDS"]) > 0


def test_every_command_that_prints_data_takes_the_output_option() -> None:
    data_commands = [(p, c) for p, c in leaves(main) if p not in TEXT_COMMANDS]
    assert len(data_commands) >= 25
    for path, command in data_commands:
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        assert "-o" in options and "--output" in options, path


def test_an_unknown_format_is_refused_in_one_line(demo: Cli) -> None:
    line = one_error_line(demo("pools", "list", "-o", "yaml"))
    assert "'yaml' is not one of 'table', 'json', 'csv'" in line


def test_a_csv_cell_never_runs_as_a_formula() -> None:
    text = to_csv([{"name": '=HYPERLINK("x")', "amount": "-2.5", "note": "@SUM(A1)"}])
    [row] = rows_of_csv(text)
    assert row == {"name": '\'=HYPERLINK("x")', "amount": "-2.5", "note": "'@SUM(A1)"}
