"""``gpuhours users``, ``pools``, ``chairs`` and ``projects``: the organisation."""

from __future__ import annotations

from pathlib import Path

import click

from connectors.cli import columns
from connectors.cli._common import emit, one_line_errors, seconds_arg
from connectors.cli.gateway import gateway


@click.group()
def users() -> None:
    """Users."""


@users.command("list")
@one_line_errors
def users_list() -> None:
    emit(gateway().users(), columns.USER)


@users.command("deactivate")
@click.argument("username")
@one_line_errors
def users_deactivate(username: str) -> None:
    """No sign-in any more; the user's tokens and portal sessions are refused (audited)."""
    emit(gateway().set_active(username, False))


@users.command("reactivate")
@click.argument("username")
@one_line_errors
def users_reactivate(username: str) -> None:
    """Undo a deactivation (audited)."""
    emit(gateway().set_active(username, True))


@click.group()
def pools() -> None:
    """Pools of GPU hours."""


@pools.command("list")
@one_line_errors
def pools_list() -> None:
    emit(gateway().pools(), columns.POOL)


@pools.command("create")
@click.argument("definition", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@one_line_errors
def pools_create(definition: Path) -> None:
    """Create a pool from a JSON file shaped like the API's POST /pools body."""
    emit(gateway().create_pool(definition.read_text()))


@pools.command("grant")
@click.argument("pool_id")
@click.option("--hours", required=True)
@click.option("--reason", required=True)
@one_line_errors
def pools_grant(pool_id: str, hours: str, reason: str) -> None:
    """Deposit a grant over the pool's validity window, split by quarter."""
    seconds_arg(hours)  # refused here, in the CLI's words
    emit(gateway().grant(pool_id, hours, reason), columns.ENTRY)


@pools.command("balance")
@click.argument("pool_id")
@click.option("--period", default=None, help="Default: the current period.")
@one_line_errors
def pools_balance(pool_id: str, period: str | None) -> None:
    emit(gateway().pool_balance(pool_id, period))


@click.group()
def chairs() -> None:
    """Research chairs."""


@chairs.command("list")
@one_line_errors
def chairs_list() -> None:
    emit(gateway().chairs(), columns.CHAIR)


@click.group()
def projects() -> None:
    """Projects and their Slurm accounts."""


@projects.command("list")
@click.option("--chair", default=None)
@one_line_errors
def projects_list(chair: str | None) -> None:
    emit(gateway().projects(chair), columns.PROJECT)


@projects.command("map-account")
@click.argument("project_id")
@click.option("--cluster", required=True)
@click.option("--account", required=True)
@one_line_errors
def projects_map(project_id: str, cluster: str, account: str) -> None:
    """Map a Slurm account on a cluster to a project (past jobs are attributed too)."""
    emit(gateway().map_account(project_id, cluster, account))


@projects.command("unmap-account")
@click.argument("project_id")
@click.option("--cluster", required=True)
@click.option("--account", required=True)
@one_line_errors
def projects_unmap(project_id: str, cluster: str, account: str) -> None:
    """Remove a Slurm account's mapping from a project (its jobs become unmapped)."""
    emit(gateway().unmap_account(project_id, cluster, account))


@projects.command("end")
@click.argument("project_id")
@click.option("--on", "end", help="ISO 8601 with offset: 2026-12-15T00:00:00Z (a defence).")
@click.option("--clear", is_flag=True, help="The project has no end.")
@one_line_errors
def projects_end(project_id: str, end: str | None, clear: bool) -> None:
    """Set a project's end: no allocation after it; its unused hours return to its chair."""
    if (end is None) == (not clear):
        raise click.UsageError("give --on DATE or --clear")
    emit(gateway().set_project_end(project_id, None if clear else end))


@projects.command("return-ended")
@click.option("--project", "project_id", default=None, help="default: every ended project")
@one_line_errors
def projects_return_ended(project_id: str | None) -> None:
    """Return the unused hours of projects whose end has passed to their chairs (once)."""
    emit(gateway().return_after_end(project_id))


COMMANDS = (users, pools, chairs, projects)
