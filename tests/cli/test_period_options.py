"""Every CLI option that takes a period speaks the site's scheme, like the API.

The commands are enumerated from the click tree: any option named ``--period`` (and
``requests approve --grant PERIOD=HOURS``) must refuse a month label, a year label and quarters
far from today under the quarter scheme, in one line naming the option and the scheme, and
change nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from connectors.cli import main
from tests.cli.test_cli import Cli, one_error_line


@pytest.fixture
def empty(tmp_path: Path) -> Cli:
    """A migrated, empty database: a period is refused before anything is looked up."""
    cli = Cli(tmp_path / "gpuhours.db")
    cli.ok("migrate")
    return cli


BAD_LABELS = ["2026-10", "2026", "0001Q1", "9999Q4"]

#: Valid values of the other arguments and options, by parameter name.
VALUES = {
    "pool_id": "nat",
    "chair_id": "chair-a",
    "project_id": "p1",
    "hours": "1",
    "reason": "a reason",
    "request_id": "1",
    "deadline": "2026-12-15T18:00:00Z",
}

KNOWN = {
    "pools balance",
    "balances",
    "allocate chair",
    "allocate project",
    "requests approve",
    "journal",
    "statements import",
    "statements list",
    "reconcile",
    "decide",
    "report",
    "close",
    "burn",
}


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


def command_of(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def period_option(command: click.Command) -> click.Option | None:
    for param in command.params:
        if isinstance(param, click.Option) and (
            "--period" in param.opts or "--grant" in param.opts
        ):
            return param
    return None


def arguments(command: click.Command, label: str, tmp: Path) -> list[str]:
    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Argument):
            if isinstance(param.type, click.Choice):
                args.append(str(param.type.choices[0]))
            elif isinstance(param.type, click.Path):
                path = tmp / "file.csv"
                path.write_text("cluster|account\n")
                args.append(str(path))
            else:
                args.append(VALUES.get(param.name or "", "x"))
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        if "--period" in param.opts:
            args += ["--period", label]
        elif "--grant" in param.opts:
            args += ["--grant", f"{label}=1"]
        elif param.required:
            if isinstance(param.type, click.Choice):
                value = str(param.type.choices[0])
            else:
                value = VALUES.get(param.name or "", "x")
            args += [param.opts[0], value]
    return args


def test_every_option_that_takes_a_period_refuses_other_schemes_and_far_off_years(
    empty: Cli, tmp_path: Path
) -> None:
    found = {" ".join(path) for path in commands(main) if period_option(command_of(path))}
    assert found >= KNOWN, KNOWN - found
    before = empty.state()
    for path in sorted(found):
        command = command_of(tuple(path.split()))
        option = period_option(command)
        assert option is not None
        field = "grant" if "--grant" in option.opts else "period"
        for label in BAD_LABELS:
            line = one_error_line(empty(*path.split(), *arguments(command, label, tmp_path)))
            assert line.startswith(f"gpuhours: error: {field}: "), (path, label, line)
            assert label in line and "quarter" in line, (path, label, line)
    assert empty.state() == before


@pytest.mark.parametrize("label", ["2026-10", "0001Q1"])
def test_allocating_through_the_cli_refuses_a_month_or_a_far_off_quarter(
    empty: Cli, label: str
) -> None:
    line = one_error_line(
        empty(
            "allocate", "chair", "--pool", "nat", "--chair", "chair-a", "--period", label,
            "--hours", "1", "--reason", "r",
        )
    )  # fmt: skip
    assert line.startswith("gpuhours: error: period: ") and "quarter" in line
