"""Usage sources for the ingestion use case, built from cluster settings.

``accounting.ingestion.ingest`` owns the rules (windows, watermark, idempotency); this module
only adapts the Slurm connectors to its ``UsageSource`` port and translates their errors, once,
into ``UsageSourceError`` kinds: ``unavailable``, ``timeout``, ``http``, ``auth``,
``rejected``, ``payload``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from accounting.errors import UsageSourceError
from accounting.ingestion import (
    IngestReport,
    Quarantined,
    StoreResult,
    UsageBatch,
    Window,
    ingest,
)
from accounting.usage import UsageRecord
from connectors.db.usage_store import SqlUsageStore
from connectors.settings import ClusterConfig
from connectors.slurm.auth import EnvToken, FileToken, MintedToken, TokenProvider
from connectors.slurm.client import SlurmRestClient
from connectors.slurm.decode import DecodedJobs
from connectors.slurm.errors import (
    SlurmAuthError,
    SlurmError,
    SlurmPayloadError,
    SlurmRejected,
)
from connectors.slurm.sacct import parse_sacct_file, run_sacct


def source_error(exc: SlurmError) -> UsageSourceError:
    """The one translation of connector errors into the accounting core's terms."""
    if isinstance(exc, SlurmAuthError):
        return UsageSourceError("auth", str(exc), transient=False)
    if isinstance(exc, SlurmRejected):
        return UsageSourceError("rejected", str(exc), transient=False)
    if isinstance(exc, SlurmPayloadError):
        return UsageSourceError("payload", str(exc), transient=False)
    if "timed out" in exc.message.lower() or "timeout" in exc.message.lower():
        return UsageSourceError("timeout", str(exc), transient=True)
    if exc.status is not None:
        return UsageSourceError("http", str(exc), transient=True)
    return UsageSourceError("unavailable", str(exc), transient=True)


def _batch(cluster: str, decoded: DecodedJobs) -> UsageBatch:
    """Keep this cluster's records; a record of another cluster is quarantined, not dropped."""
    records: list[UsageRecord] = []
    quarantined = [Quarantined(q.reason, q.raw, q.job_id) for q in decoded.quarantined]
    for record in decoded.records:
        if record.cluster == cluster:
            records.append(record)
        else:
            quarantined.append(
                Quarantined(
                    f"record of cluster {record.cluster!r} read for cluster {cluster!r}"
                    " (check the cluster name in the settings)",
                    repr(record),
                    record.job_id,
                )
            )
    return UsageBatch(records, quarantined, decoded.warnings)


def token_provider(config: ClusterConfig) -> TokenProvider:
    if config.jwt_key_file is not None:
        return MintedToken.from_key_file(
            config.jwt_key_file, config.user, lifespan=config.token_lifespan
        )
    if config.token_file is not None:
        return FileToken(config.token_file)
    if config.token_env:
        return EnvToken(config.token_env)
    raise ValueError(
        f"cluster {config.name}: set jwt_key_file, token_file or token_env for slurmrestd"
    )


class RestUsageSource:
    def __init__(self, config: ClusterConfig, client: SlurmRestClient | None = None) -> None:
        self.config = config
        self.client = client or SlurmRestClient(
            config.url,
            config.user,
            token_provider(config),
            config.api_version or None,
            timeout=config.timeout_seconds,
            attempts=config.retries + 1,
        )

    def fetch(self, window: Window) -> UsageBatch:
        try:
            page = self.client.jobs(window.start, window.end)
        except SlurmError as exc:
            raise source_error(exc) from None
        return _batch(self.config.name, DecodedJobs(page.records, page.quarantined, page.warnings))


class SacctUsageSource:
    def __init__(self, config: ClusterConfig) -> None:
        self.config = config

    def fetch(self, window: Window) -> UsageBatch:
        try:
            decoded = run_sacct(
                window.start,
                window.end,
                cluster=self.config.name,
                clusters=(self.config.name,),
                timeout=self.config.timeout_seconds,
            )
        except SlurmError as exc:
            raise source_error(exc) from None
        return _batch(self.config.name, decoded)


def build_source(config: ClusterConfig) -> RestUsageSource | SacctUsageSource:
    if config.source == "sacct":
        return SacctUsageSource(config)
    if config.source == "rest":
        if not config.url:
            raise ValueError(f"cluster {config.name}: source rest needs a url")
        return RestUsageSource(config)
    raise ValueError(f"cluster {config.name}: source file only imports files (--from-file)")


def run_ingest(
    store: SqlUsageStore,
    config: ClusterConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    source: RestUsageSource | SacctUsageSource | None = None,
    progress: Callable[[Window, StoreResult], None] | None = None,
    advance: bool = True,
) -> IngestReport:
    return ingest(
        config.name,
        source or build_source(config),
        store,
        int(now.timestamp()),
        overlap=config.overlap_seconds,
        chunk=config.chunk_seconds,
        initial_lookback=config.initial_lookback_seconds,
        since=None if since is None else int(since.timestamp()),
        until=None if until is None else int(until.timestamp()),
        progress=progress,
        advance=advance,
    )


def import_file(
    store: SqlUsageStore, cluster: str, path: Path, now: datetime
) -> tuple[StoreResult, Sequence[str]]:
    """Import a ``sacct --json`` or ``--parsable2`` export (e.g. from a national centre).

    The records are upserted like any ingestion (importing a file twice changes nothing); the
    cluster's watermark is not moved, since a file says nothing about what else ran.
    """
    try:
        decoded = parse_sacct_file(path, cluster=cluster)
    except SlurmError as exc:
        raise ValueError(f"file: {exc}") from None
    batch = _batch(cluster, decoded)
    starts = [r.start for r in batch.records if r.start is not None]
    ends = [r.end or r.start for r in batch.records if r.start is not None]
    window = Window(min(starts, default=0), max((e or 0 for e in ends), default=0))
    result = store.store_window(cluster, window, batch, int(now.timestamp()), None)
    return result, list(batch.warnings)
