"""``gpuhours ingest``, ``clusters`` and ``usage``: GPU usage from Slurm, and its health."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from accounting.ingestion import IngestReport, StoreResult, Window
from allocator.errors import InvalidInput
from connectors.cli._common import CliError, emit, one_line_errors, services
from connectors.cli.gateway import gateway

if TYPE_CHECKING:  # the database side loads only when a command needs it (a fast remote CLI)
    from connectors.bootstrap import Services
    from connectors.settings import ClusterConfig


def parse_time(value: str | None, field: str) -> datetime | None:
    """ISO 8601 (a value without an offset is UTC) or epoch seconds."""
    if value is None:
        return None
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(field, f"{value!r} is not an ISO 8601 time or epoch seconds") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@click.command()
@click.option("--cluster", required=True, help="A cluster of the settings (GPUHOURS_CLUSTERS).")
@click.option("--since", default=None, help="Backfill from (ISO 8601 UTC, or epoch).")
@click.option("--until", default=None, help="Backfill to (default: now).")
@click.option(
    "--from-file",
    "from_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Import a sacct --json or --parsable2 export instead of asking Slurm.",
)
@one_line_errors
def ingest(cluster: str, since: str | None, until: str | None, from_file: Path | None) -> None:
    """Ingest GPU usage of a cluster: incremental from the watermark, or a backfill."""
    sv = services()
    sv.migrate()
    if from_file is not None:
        _ingest_file(sv, cluster, from_file)
        return
    config = sv.settings.cluster(cluster)
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start and end and end <= start:
        raise InvalidInput("until", "must be after since")
    report = _ingest_from_slurm(sv, config, start, end)
    emit(
        {
            "cluster": report.cluster,
            "windows": report.windows,
            "inserted": report.inserted,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "quarantined": report.quarantined,
            "watermark": report.watermark,
            "error": report.error,
        }
    )
    if not report.ok:
        raise CliError(f"cluster {cluster}: {report.error} (watermark held; the next run retries)")


def _ingest_file(sv: Services, cluster: str, from_file: Path) -> None:
    """A sacct export instead of Slurm; its warnings on stderr."""
    from connectors.ingest import import_file

    result, warnings = import_file(sv.usage_store(), cluster, from_file, sv.clock())
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    emit(
        {
            "cluster": cluster,
            "file": str(from_file),
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "quarantined": result.quarantined,
        }
    )


def _ingest_from_slurm(
    sv: Services, config: ClusterConfig, start: datetime | None, end: datetime | None
) -> IngestReport:
    """Run the ingestion, with a progress bar on stderr when stdout is a terminal."""
    from connectors.ingest import run_ingest

    cluster = config.name
    store = sv.usage_store()
    bar = None
    if sys.stdout.isatty():
        now_epoch = int(sv.clock().timestamp())
        first = int(start.timestamp()) if start else store.state(cluster).watermark or now_epoch
        last = int(end.timestamp()) if end else now_epoch
        bar = click.progressbar(
            length=max(last - first, 1),
            label=f"ingesting {cluster}",
            show_eta=True,
            file=sys.stderr,
        )
        bar.__enter__()

    def progress(window: Window, _result: StoreResult) -> None:
        if bar is not None:
            bar.update(window.end - window.start)

    try:
        return run_ingest(store, config, sv.clock(), since=start, until=end, progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


@click.group()
def clusters() -> None:
    """Slurm clusters and their ingestion health."""


@clusters.command("status")
@one_line_errors
def clusters_status() -> None:
    """Last success, lag, errors by kind and quarantined records, per cluster."""
    emit(gateway().clusters())


@click.group()
def usage() -> None:
    """Ingested usage: per account, unmapped accounts, quarantine."""


@usage.command("accounts")
@click.option("--cluster", default=None)
@click.option("--unmapped", is_flag=True, help="Only accounts no project claims yet.")
@click.option("--period", default=None, help="Only the usage in this period (e.g. 2026Q4).")
@one_line_errors
def usage_accounts(cluster: str | None, unmapped: bool, period: str | None) -> None:
    """GPU-seconds per Slurm account: finished jobs (gpu_seconds) and unfinished ones
    (provisional_gpu_seconds) apart, each split by GPU type (as GET /api/v1/usage/accounts)."""
    emit(gateway().account_usage(cluster, unmapped, period))


@usage.command("quarantine")
@click.option("--cluster", default=None)
@one_line_errors
def usage_quarantine(cluster: str | None) -> None:
    """Records that could not be normalised, with the reason; newest first."""
    emit(gateway().quarantine(cluster))


COMMANDS = (ingest, clusters, usage)
