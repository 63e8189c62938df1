"""``gpuhours balances``, ``allocate`` and ``journal``: moving hours and reading the ledger."""

from __future__ import annotations

import click

from connectors.cli import columns
from connectors.cli._common import emit, one_line_errors, seconds_arg
from connectors.cli.gateway import gateway


@click.command()
@click.option("--period", default=None, help="Default: the current period.")
@click.option("--pool", "pool_id", default=None)
@one_line_errors
def balances(period: str | None, pool_id: str | None) -> None:
    """Project balances for a period: every project's for staff, one's own for a researcher."""
    emit(gateway().balances(period, pool_id), columns.BALANCE)


@click.group()
def allocate() -> None:
    """Allocate hours: pool -> chair, chair -> project."""


@allocate.command("chair")
@click.option("--pool", "pool_id", required=True)
@click.option("--chair", "chair_id", required=True)
@click.option("--period", required=True)
@click.option("--hours", required=True)
@click.option("--reason", required=True)
@one_line_errors
def allocate_chair(pool_id: str, chair_id: str, period: str, hours: str, reason: str) -> None:
    """Hours of a pool to a chair, for a period (the journal entry written)."""
    seconds_arg(hours)  # refused here, in the CLI's words
    emit(gateway().allocate_chair(pool_id, chair_id, period, hours, reason))


@allocate.command("project")
@click.option("--pool", "pool_id", required=True)
@click.option("--project", "project_id", required=True)
@click.option("--period", required=True)
@click.option("--hours", required=True)
@click.option("--reason", required=True)
@click.option("--draw-from-pool", is_flag=True)
@one_line_errors
def allocate_project(
    pool_id: str, project_id: str, period: str, hours: str, reason: str, draw_from_pool: bool
) -> None:
    """Hours of a chair to one of its projects (the entry written; with --draw-from-pool, the
    chair's shortfall drawn from the pool first, in drawn_from_pool)."""
    seconds_arg(hours)
    emit(gateway().allocate_project(pool_id, project_id, period, hours, reason, draw_from_pool))


@click.command()
@click.option("--pool", "pool_id", default=None)
@click.option("--period", default=None)
@click.option("--account", default=None)
@one_line_errors
def journal(pool_id: str | None, period: str | None, account: str | None) -> None:
    """The append-only journal."""
    emit(gateway().journal(pool_id, period, account), columns.ENTRY)


@click.command()
@click.option("--period", default=None, help="Default: the current period.")
@click.option("--project", "project_id", default=None, help="Default: my projects.")
@click.option("--pool", "pool_id", default=None)
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 10_000))
@one_line_errors
def jobs(period: str | None, project_id: str | None, pool_id: str | None, limit: int) -> None:
    """The jobs charged to my projects (or to --project) in a period, per pool."""
    emit(gateway().jobs(period, project_id, pool_id, limit), columns.PROJECT_JOB)


COMMANDS = (balances, allocate, journal, jobs)
