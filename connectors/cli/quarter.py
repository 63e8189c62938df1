"""The quarter's accounting: ``statements``, ``reconcile``, ``decide``, ``report``, ``close``
and ``burn``."""

from __future__ import annotations

from pathlib import Path

import click

from allocator.hours import Sign
from connectors.cli import columns
from connectors.cli._common import emit, hours_arg, one_line_errors, tolerance_arg
from connectors.cli.gateway import StatementUpload, gateway
from connectors.values import MAPPED_FIELDS, STATEMENT_FORMATS, column_mapping, decision_amount


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
    column_mapping(fmt, columns, delimiter)  # refused here, before the file is read or sent
    upload = StatementUpload(
        file.read_bytes(), pool_id, period, fmt, file_name or file.name, columns, delimiter
    )
    emit(gateway().import_statement(upload))


@statements.command("list")
@click.option("--pool", "pool_id", default=None)
@click.option("--period", default=None)
@one_line_errors
def statements_list(pool_id: str | None, period: str | None) -> None:
    """The statements imported, newest first."""
    emit(gateway().statements(pool_id, period), columns.STATEMENT)


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
    tolerance_arg(tolerance_seconds, tolerance_percent)  # refused here, in the CLI's words
    if jobs_of is not None:
        emit(gateway().jobs_behind(pool_id, period, jobs_of), columns.JOB)
        return
    emit(gateway().reconcile(pool_id, period, tolerance_seconds, tolerance_percent))


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
    decision_amount(action, hours_arg(hours, "hours", Sign.SIGNED))  # refused here first
    emit(gateway().decide(action, pool_id, period, project_id, hours, reason))


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
    text = gateway().report(period, fmt)
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
    click.echo(gateway().close(period, reason, force), nl=False)


@click.command()
@click.option("--period", default=None, help="Default: the current period.")
@click.option("--pool", "pool_id", default=None)
@one_line_errors
def burn(period: str | None, pool_id: str | None) -> None:
    """Burn rates (hours per day over 7 and 30 days) and projected exhaustion per project."""
    emit(gateway().burn(period, pool_id), columns.BURN)


COMMANDS = (statements, reconcile, decide, report, close, burn)
