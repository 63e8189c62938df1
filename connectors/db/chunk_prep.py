"""A fetched chunk's work that needs no transaction, done ahead on the fetch thread.

While the ingestion stores chunk N, its fetch-ahead thread fetches chunk N+1 and hands it to
:meth:`SqlUsageStore.prepare <connectors.db.usage_store.SqlUsageStore.prepare>`, which calls
:func:`prepare`: the chunk's records are kept (one per key, of the cluster) and, unless most
of their keys are stored already (a re-ingest), the ``usage_records`` rows of those not stored
are built and they are booked as new, with the rollup deltas, under the booking context as it
stands then.

``store_window`` takes that work only where it would compute the same itself: for records new
in its own transaction (the keys are probed again there: a job that ran across two windows
is in both chunks, stored with the first), and only if the context it reads there, under the
close lock, equals the one assumed (pools with their routes and rates, closed periods);
the rest it books itself, as if the chunk had never been prepared. The work moves off the
storing thread into the time that thread spends waiting for PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from accounting.ingestion import UsageBatch
from accounting.usage import UsageRecord
from allocator.periods import Calendar
from connectors.db.charge_store import Booked, book_new, read_context
from connectors.db.usage_rows import dedupe, gc_paused, row_of
from connectors.db.usage_staging import stored_keys


@dataclass(frozen=True, slots=True)
class PreparedBatch(UsageBatch):
    """A fetched batch with the work done ahead for storing it for ``cluster`` at ``now``."""

    cluster: str = ""
    now: int = 0
    #: The records to store: one per key, of the cluster.
    kept: Sequence[UsageRecord] = ()
    #: ``row_of`` of each kept record not stored then, None for the others (PostgreSQL).
    rows: Sequence[tuple[Any, ...] | None] | None = None
    #: The kept records not stored then, booked as new.
    booked: Booked | None = None


def prepare(
    engine: Engine,
    cluster: str,
    batch: UsageBatch,
    now: int,
    calendar: Calendar,
    *,
    postgres: bool,
) -> PreparedBatch:
    with gc_paused(len(batch.records)):
        kept = dedupe([r for r in batch.records if r.cluster == cluster])
    prepared = PreparedBatch(
        batch.records, batch.quarantined, batch.warnings, cluster=cluster, now=now, kept=kept
    )
    if not kept:
        return prepared
    with engine.connect() as conn:
        stored = stored_keys(conn, kept)
        if stored is None:
            return prepared  # mostly a re-ingest: the store tells new from changed
        ctx = read_context(conn, calendar)
    with gc_paused(len(kept)):
        fresh = [r for r in kept if (r.cluster, r.job_id, r.submit) not in stored]
        booked = book_new(ctx, fresh, now)
        rows = None
        if postgres:
            rows = [
                None if (r.cluster, r.job_id, r.submit) in stored else row_of(r, now) for r in kept
            ]
    return PreparedBatch(
        batch.records,
        batch.quarantined,
        batch.warnings,
        cluster=cluster,
        now=now,
        kept=kept,
        rows=rows,
        booked=booked,
    )
