"""``gpuhours balances``, ``allocate`` and ``journal``: moving hours and reading the ledger."""

from __future__ import annotations

import click

from allocator import services as svc
from connectors.cli import columns, render
from connectors.cli._common import cli_actor, emit, one_line_errors, seconds_arg, services


@click.command()
@click.option("--period", required=True)
@click.option("--pool", "pool_id", default=None)
@one_line_errors
def balances(period: str, pool_id: str | None) -> None:
    """Project balances for a period."""
    sv = services()
    uow = sv.uow(read_only=True)  # beside a running server's writer, never waiting for it
    rows = svc.visible_balances(  # the period is refused even when there is nothing to show
        uow,
        cli_actor(),
        period,
        [pool_id] if pool_id else None,
        sv.consumption.within(uow),
        now=sv.clock(),
        calendar=sv.settings.calendar,
    )
    emit([render.project_balance(b) for b in rows], columns.BALANCE)


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
    sv = services()
    entry = svc.allocate_to_chair(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        pool_id,
        chair_id,
        period,
        seconds_arg(hours),
        reason,
        calendar=sv.settings.calendar,
    )
    emit(render.entry(entry))


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
    sv = services()
    entries = svc.allocate_to_project(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        pool_id,
        project_id,
        period,
        seconds_arg(hours),
        reason,
        draw_from_pool,
        calendar=sv.settings.calendar,
    )
    emit(render.entries(entries), columns.ENTRY)


@click.command()
@click.option("--pool", "pool_id", default=None)
@click.option("--period", default=None)
@click.option("--account", default=None)
@one_line_errors
def journal(pool_id: str | None, period: str | None, account: str | None) -> None:
    """The append-only journal."""
    sv = services()
    entries = svc.journal(
        sv.uow(),
        cli_actor(),
        pool_id,
        period,
        account,
        now=sv.clock(),
        calendar=sv.settings.calendar,
    )
    emit(render.entries(entries), columns.ENTRY)


COMMANDS = (balances, allocate, journal)
