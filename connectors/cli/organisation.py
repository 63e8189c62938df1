"""``gpuhours users``, ``pools``, ``chairs`` and ``projects``: the organisation."""

from __future__ import annotations

from pathlib import Path

import click

from allocator import services as svc
from allocator.model import SlurmAccount
from connectors.cli import columns, render
from connectors.cli._common import cli_actor, emit, one_line_errors, seconds_arg, services
from connectors.cli.pool_file import parse_pool_file


@click.group()
def users() -> None:
    """Users."""


@users.command("list")
@one_line_errors
def users_list() -> None:
    sv = services()
    emit([render.user(u) for u in svc.list_users(sv.uow(), cli_actor())], columns.USER)


@click.group()
def pools() -> None:
    """Pools of GPU hours."""


@pools.command("list")
@one_line_errors
def pools_list() -> None:
    sv = services()
    emit([render.pool(p) for p in svc.list_pools(sv.uow(), cli_actor())], columns.POOL)


@pools.command("create")
@click.argument("definition", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@one_line_errors
def pools_create(definition: Path) -> None:
    """Create a pool from a JSON file shaped like the API's POST /pools body."""
    body = parse_pool_file(definition.read_text())
    sv = services()
    pool = svc.create_pool_with_grant(  # one transaction: no pool left behind without its grant
        sv.uow(),
        cli_actor(),
        sv.clock(),
        body.pool,
        body.grant_seconds,
        calendar=sv.settings.calendar,
    )
    emit(render.pool(pool))


@pools.command("grant")
@click.argument("pool_id")
@click.option("--hours", required=True)
@click.option("--reason", required=True)
@one_line_errors
def pools_grant(pool_id: str, hours: str, reason: str) -> None:
    """Deposit a grant over the pool's validity window, split by quarter."""
    sv = services()
    entries = svc.add_grant(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        pool_id,
        seconds_arg(hours),
        reason,
        calendar=sv.settings.calendar,
    )
    emit(render.entries(entries), columns.ENTRY)


@pools.command("balance")
@click.argument("pool_id")
@click.option("--period", required=True)
@one_line_errors
def pools_balance(pool_id: str, period: str) -> None:
    sv = services()
    balance = svc.pool_balances(
        sv.uow(), cli_actor(), pool_id, period, now=sv.clock(), calendar=sv.settings.calendar
    )
    emit(render.pool_balance(balance))


@click.group()
def chairs() -> None:
    """Research chairs."""


@chairs.command("list")
@one_line_errors
def chairs_list() -> None:
    sv = services()
    emit([render.chair(c) for c in svc.list_chairs(sv.uow(), cli_actor())], columns.CHAIR)


@click.group()
def projects() -> None:
    """Projects and their Slurm accounts."""


@projects.command("list")
@click.option("--chair", default=None)
@one_line_errors
def projects_list(chair: str | None) -> None:
    sv = services()
    emit(
        [render.project(p) for p in svc.list_projects(sv.uow(), cli_actor(), chair)],
        columns.PROJECT,
    )


@projects.command("map-account")
@click.argument("project_id")
@click.option("--cluster", required=True)
@click.option("--account", required=True)
@one_line_errors
def projects_map(project_id: str, cluster: str, account: str) -> None:
    """Map a Slurm account on a cluster to a project (past jobs are attributed too)."""
    sv = services()
    project = svc.map_slurm_account(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        project_id,
        SlurmAccount(cluster, account),
        clusters=sv.settings.cluster_names(),
    )
    emit(render.project(project))


@projects.command("unmap-account")
@click.argument("project_id")
@click.option("--cluster", required=True)
@click.option("--account", required=True)
@one_line_errors
def projects_unmap(project_id: str, cluster: str, account: str) -> None:
    """Remove a Slurm account's mapping from a project (its jobs become unmapped)."""
    sv = services()
    project = svc.unmap_slurm_account(
        sv.uow(), cli_actor(), sv.clock(), project_id, SlurmAccount(cluster, account)
    )
    emit(render.project(project))


COMMANDS = (users, pools, chairs, projects)
