"""Incremental, idempotent usage ingestion: windows, watermark, quarantine.

The rules:
- windows start at ``watermark - overlap`` (slurmdbd writes late) and are cut into chunks of
  at most ``chunk`` seconds, so no request covers more than that span;
- each chunk is stored in one transaction together with the watermark advance; a failed
  fetch stores nothing, records the error and holds the watermark;
- records are upserted by key, so re-ingesting any window, in any chunking, changes nothing;
  a final record is never replaced by a provisional one;
- a bad record is quarantined with its reason; the rest of its window is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from accounting.errors import UsageSourceError
from accounting.usage import UsageRecord


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that could not be normalised: kept verbatim with the reason."""

    reason: str
    raw: str
    job_id: int | None = None


@dataclass(frozen=True, slots=True)
class UsageBatch:
    records: Sequence[UsageRecord]
    quarantined: Sequence[Quarantined] = ()
    warnings: Sequence[str] = ()


class UsageSource(Protocol):
    def fetch(self, window: Window) -> UsageBatch:
        """Every record of jobs that ran, or were eligible, in ``[start, end)``."""
        ...


@dataclass(frozen=True, slots=True)
class StoreResult:
    inserted: int
    updated: int
    unchanged: int
    quarantined: int


@dataclass(frozen=True, slots=True)
class IngestState:
    cluster: str
    watermark: int | None = None
    last_success: int | None = None
    last_attempt: int | None = None
    last_error: str = ""
    last_error_kind: str = ""
    records_total: int = 0
    quarantined_total: int = 0
    errors_total: dict[str, int] = field(default_factory=dict)


class UsageStore(Protocol):
    def state(self, cluster: str) -> IngestState: ...

    def prepare(self, cluster: str, batch: UsageBatch, now: int) -> UsageBatch:
        """The work on a fetched batch that needs no transaction, done on the fetch-ahead
        thread while the chunk before is stored; ``store_window`` stores what it returns
        exactly as it would have stored ``batch``."""
        ...

    def store_window(
        self, cluster: str, window: Window, batch: UsageBatch, now: int, advance_to: int | None
    ) -> StoreResult:
        """Upsert, quarantine and (when ``advance_to``) move the watermark, atomically."""
        ...

    def record_failure(
        self, cluster: str, window: Window, error: UsageSourceError, now: int
    ) -> None: ...


def plan_windows(
    watermark: int | None,
    now: int,
    *,
    overlap: int,
    chunk: int,
    initial_lookback: int,
    since: int | None = None,
    until: int | None = None,
) -> list[Window]:
    """The chunks to fetch, oldest first."""
    if chunk <= 0:
        raise ValueError("chunk must be positive")
    if since is not None:
        start = since
    elif watermark is not None:
        start = watermark - overlap
    else:
        start = now - initial_lookback
    end = now if until is None else until
    windows = []
    while start < end:
        stop = min(start + chunk, end)
        windows.append(Window(start, stop))
        start = stop
    return windows


@dataclass(frozen=True, slots=True)
class IngestReport:
    cluster: str
    windows: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    error: str = ""
    watermark: int | None = None

    @property
    def ok(self) -> bool:
        return not self.error


def ingest(
    cluster: str,
    source: UsageSource,
    store: UsageStore,
    now: int,
    *,
    overlap: int = 3600,
    chunk: int = 86400,
    initial_lookback: int = 86400,
    since: int | None = None,
    until: int | None = None,
    progress: Callable[[Window, StoreResult], None] | None = None,
    fetch_ahead: bool = True,
    advance: bool = True,
) -> IngestReport:
    """Fetch and store every chunk in order; stop at the first failed fetch.

    A backfill (``since``/``until`` given) never moves the watermark backwards: the
    watermark only ever advances to the end of a stored chunk that lies beyond it. With
    ``advance=False`` it never moves (a refresh of running jobs that must not skip the
    windows the regular ingestion has not fetched yet).
    """
    state = store.state(cluster)
    windows = plan_windows(
        state.watermark,
        now,
        overlap=overlap,
        chunk=chunk,
        initial_lookback=initial_lookback,
        since=since,
        until=until,
    )
    results: list[StoreResult] = []
    watermark = state.watermark

    def report(error: str = "") -> IngestReport:
        return IngestReport(
            cluster,
            len(windows),
            inserted=sum(r.inserted for r in results),
            updated=sum(r.updated for r in results),
            unchanged=sum(r.unchanged for r in results),
            quarantined=sum(r.quarantined for r in results),
            error=error,
            watermark=watermark,
        )

    # Fetch-ahead: while chunk N is being stored, chunk N+1 is fetched, decoded and prepared
    # for storing (``UsageStore.prepare``) on one helper thread. Chunks are still stored
    # strictly in order, one transaction each, and a failed fetch stops the run after
    # everything before it was stored: the same outcome as fetching one chunk at a time.
    def fetch(window: Window) -> UsageBatch:
        return store.prepare(cluster, source.fetch(window), now)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"fetch-{cluster}") as pool:
        pending: Future[UsageBatch] | None = pool.submit(fetch, windows[0]) if windows else None
        for i, window in enumerate(windows):
            assert pending is not None
            try:
                batch = pending.result()
            except UsageSourceError as exc:
                store.record_failure(cluster, window, exc, now)
                return report(exc.message)
            pending = (
                pool.submit(fetch, windows[i + 1]) if fetch_ahead and i + 1 < len(windows) else None
            )
            advance_to = (
                window.end if advance and (watermark is None or window.end > watermark) else None
            )
            try:
                result = store.store_window(cluster, window, batch, now, advance_to)
            except BaseException:
                if pending is not None:
                    pending.cancel()
                raise
            results.append(result)
            if advance_to is not None:
                watermark = advance_to
            if progress is not None:
                progress(window, result)
            if pending is None and i + 1 < len(windows):
                pending = pool.submit(fetch, windows[i + 1])
    return report()
