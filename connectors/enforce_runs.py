"""The scheduled enforcement runs of this process, for ``/metrics`` (kept by the services)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from allocator.services import enforcement as enf


@dataclass
class EnforceRuns:
    """This process's scheduled enforcement runs, per cluster, for ``/metrics``: the last
    run's time and figures, and running totals."""

    last_run: dict[str, float] = field(default_factory=dict)
    differences: dict[str, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    unread: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, cluster: str, at: float, result: enf.Plan, done: list[enf.Applied]) -> None:
        with self.lock:
            self.last_run[cluster] = at
            self.differences[cluster] = len(result.changes)
            for counts, n in (
                (self.applied, sum(1 for a in done if not a.error)),
                (self.failed, sum(1 for a in done if a.error)),
                (self.skipped, sum(1 for c in result.changes if c.skipped)),
                (self.unread, 1 if result.read_error else 0),
            ):
                counts[cluster] = counts.get(cluster, 0) + n
