"""The quarter's accounting: ``statements``, ``reconcile``, ``decide``, ``report``, ``close``
and ``burn``."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from accounting import report as rpt
from accounting import services as acc
from accounting.reconcile import Tolerance
from allocator.errors import InvalidInput
from allocator.hours import Sign
from connectors.cli import columns, render
from connectors.cli._common import cli_actor, emit, hours_arg, one_line_errors, services
from connectors.cli.gateway import gateway
from connectors.presenters import reports as present_report
from connectors.values import MAPPED_FIELDS, STATEMENT_FORMATS, column_mapping, decision_amount


def tolerance_arg(seconds: int, percent: str) -> Tolerance:
    """``--tolerance-seconds`` and ``--tolerance-percent`` (0..100, to the tenth)."""
    try:
        value = Decimal(percent)
        ok = value.is_finite() and 0 <= value <= 100 and value * 10 == int(value * 10)
    except InvalidOperation:
        ok = False
    if not ok:
        raise InvalidInput("tolerance_percent", f"{percent!r} is not a percentage 0..100 (0.1)")
    if seconds < 0:
        raise InvalidInput("tolerance_seconds", "must not be negative")
    return Tolerance(seconds, int(Decimal(percent) * 10))


@click.group()
def statements() -> None:
    """External statements (national centre CSV, sreport, any CSV) to reconcile against."""


@statements.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pool", "pool_id", required=True)
@click.option("--period", required=True)
@click.option("--format", "fmt", required=True, type=click.Choice(STATEMENT_FORMATS))
@click.option("--file-name", default=None, help="Name recorded with it (default: FILE's name).")
@click.option("--map-account", default=None, help="mapped-csv: the account column.")
@click.option("--map-gpu-seconds", default=None, help="mapped-csv: GPU-seconds column.")
@click.option("--map-hours", default=None, help="mapped-csv: GPU hours column.")
@click.option("--map-units-hours", default=None, help="mapped-csv: hours of the pool's unit.")
@click.option("--map-gpu-type", default=None, help="mapped-csv: GPU type column.")
@click.option("--map-period", default=None, help="mapped-csv: period column.")
@click.option("--delimiter", default=None, help="mapped-csv: the separator (default: found).")
@one_line_errors
def statements_import(
    file: Path,
    pool_id: str,
    period: str,
    fmt: str,
    file_name: str | None,
    delimiter: str | None,
    **maps: str | None,
) -> None:
    """Import FILE as the statement of a pool and period, all or nothing (again: a no-op)."""
    columns = {field: maps[f"map_{field}"] for field in MAPPED_FIELDS}
    mapping = column_mapping(fmt, columns, delimiter)
    sv = services()
    info = acc.import_statement(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        pool_id,
        period,
        fmt,
        file.read_bytes(),
        file_name or file.name,
        mapping,
        calendar=sv.settings.calendar,
    )
    emit(render.statement(info))


@statements.command("list")
@click.option("--pool", "pool_id", default=None)
@click.option("--period", default=None)
@one_line_errors
def statements_list(pool_id: str | None, period: str | None) -> None:
    sv = services()
    infos = acc.list_statements(
        sv.uow(), cli_actor(), pool_id, period, now=sv.clock(), calendar=sv.settings.calendar
    )
    emit([render.statement(i) for i in infos], columns.STATEMENT)


@click.command()
@click.option("--pool", "pool_id", required=True)
@click.option("--period", required=True)
@click.option("--jobs", "jobs_of", default=None, metavar="PROJECT", help="The jobs behind a line.")
@click.option("--tolerance-seconds", default=60, type=int, show_default=True)
@click.option("--tolerance-percent", default="1", show_default=True)
@one_line_errors
def reconcile(
    pool_id: str, period: str, jobs_of: str | None, tolerance_seconds: int, tolerance_percent: str
) -> None:
    """Our consumption against the latest statement, per project (--jobs PROJECT: its jobs;
    --jobs '': jobs of unmapped accounts)."""
    tolerance = tolerance_arg(tolerance_seconds, tolerance_percent)
    sv = services()
    now, calendar = sv.clock(), sv.settings.calendar
    if jobs_of is not None:
        jobs = acc.jobs_behind(
            sv.uow(), cli_actor(), pool_id, period, jobs_of, now=now, calendar=calendar
        )
        emit([render.job(j) for j in jobs], columns.JOB)
        return
    rec = acc.reconcile(
        sv.uow(), cli_actor(), pool_id, period, tolerance, now=now, calendar=calendar
    )
    emit(render.reconciliation(rec))


@click.command()
@click.argument("action", type=click.Choice(["accept", "adjust"]))
@click.option("--pool", "pool_id", required=True)
@click.option("--period", required=True)
@click.option("--project", "project_id", required=True, help="The line's project.")
@click.option("--hours", default="0", help="adjust: signed hours (negative debits the project).")
@click.option("--reason", required=True)
@one_line_errors
def decide(
    action: str, pool_id: str, period: str, project_id: str, hours: str, reason: str
) -> None:
    """Accept a reconciliation line's difference, or adjust the project by signed hours."""
    amount = decision_amount(action, hours_arg(hours, "hours", Sign.SIGNED))
    sv = services()
    rec = acc.decide(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        pool_id,
        period,
        project_id,
        action,
        amount,
        reason,
        calendar=sv.settings.calendar,
    )
    emit(render.reconciliation(rec))


@click.command()
@click.option("--period", required=True)
@click.option(
    "--format", "fmt", default="json", show_default=True, type=click.Choice(["json", "csv", "html"])
)
@click.option(
    "--output", default=None, type=click.Path(dir_okay=False, path_type=Path), help="A file."
)
@one_line_errors
def report(period: str, fmt: str, output: Path | None) -> None:
    """The period's report (a closed period's: the one signed off at close), on stdout."""
    sv = services()
    rendered = acc.report(
        sv.uow(), cli_actor(), period, now=sv.clock(), calendar=sv.settings.calendar
    )
    text = present_report.rendered(rendered, fmt)[0]
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    emit({"period": period, "format": fmt, "output": str(output), "bytes": len(text.encode())})


@click.command()
@click.option("--period", required=True)
@click.option("--reason", required=True)
@click.option("--force", is_flag=True, help="Close despite unresolved reconciliation lines.")
@one_line_errors
def close(period: str, reason: str, force: bool) -> None:
    """Close an ended period: close policies applied, report signed off (printed), frozen."""
    sv = services()
    signed = acc.close_period(
        sv.uow(),
        cli_actor(),
        sv.clock(),
        period,
        reason,
        force,
        calendar=sv.settings.calendar,
        clock=sv.clock,
    )
    click.echo(rpt.to_json(signed), nl=False)


@click.command()
@click.option("--period", default=None, help="Default: the current period.")
@click.option("--pool", "pool_id", default=None)
@one_line_errors
def burn(period: str | None, pool_id: str | None) -> None:
    """Burn rates (hours per day over 7 and 30 days) and projected exhaustion per project."""
    emit(gateway().burn(period, pool_id), columns.BURN)


COMMANDS = (statements, reconcile, decide, report, close, burn)
