"""The collectors of ``/metrics``: the database-derived families, collected at most once per
``metrics_cache_seconds`` (5 s by default; concurrent scrapes wait for one collection instead
of each running their own), and the scheduler's process-local ones.

``gpuhours_collector_duration_seconds`` is the time the last collection took. The cyclic GC
waits until a collection is done (tens of thousands of new tuples: no heap rescans meanwhile).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connectors.bootstrap import Services
from connectors.metrics.business import collect_database
from connectors.metrics.families import DURATION, DURATION_HELP, PREFIX, Samples

#: The logger operators know (log lines name it), whichever module of the package logs.
log = logging.getLogger("connectors.metrics")


class DatabaseCollector(Collector):
    """The database-derived families, collected at most once per ``cache_seconds``.

    When the database cannot be read, they are left out (and the error logged) until a later
    collection succeeds: the scrape still answers with the process-local families.
    """

    def __init__(self, services: Services, cache_seconds: float | None = None) -> None:
        self.services = services
        self.cache_seconds = (
            services.settings.metrics_cache_seconds if cache_seconds is None else cache_seconds
        )
        self._lock = threading.Lock()
        self._samples = Samples()
        self._text = ""
        self._duration = 0.0
        self._at: float | None = None

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not query the database

    def _fresh(self) -> tuple[Samples, str, float]:
        """The samples and their exposition (with the collection time): collected now unless
        a collection younger than ``cache_seconds`` is kept."""
        with self._lock:  # one collection at a time; the others wait and reuse it
            if self._at is None or time.monotonic() - self._at >= self.cache_seconds:
                started = time.perf_counter()
                paused = gc.isenabled()
                gc.disable()  # tens of thousands of new tuples: no heap rescans meanwhile
                try:
                    samples = collect_database(self.services, self.services.clock())
                except Exception:  # the database is down or not migrated: the rest still serves
                    log.exception("metrics: the database-derived families are left out")
                    samples = Samples()
                finally:
                    if paused:
                        gc.enable()
                text = samples.render()
                duration = time.perf_counter() - started
                self._samples, self._duration = samples, duration
                self._text = (
                    f"{text}# HELP {DURATION} {DURATION_HELP}\n# TYPE {DURATION} gauge\n"
                    f"{DURATION} {duration}\n"
                )
                self._at = time.monotonic()
            return self._samples, self._text, self._duration

    def render(self) -> str:
        return self._fresh()[1]

    def collect(self) -> Iterator[Metric]:
        samples, _text, duration = self._fresh()
        yield from samples.families()
        yield GaugeMetricFamily(DURATION, DURATION_HELP, value=duration)


class SchedulerCollector(Collector):
    """Whether this process leads the scheduler, and when each job last succeeded."""

    def __init__(self, services: Services) -> None:
        self.status = services.scheduler_status

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            PREFIX + "scheduler_leader",
            "1 on the process that runs the scheduled jobs.",
            value=1 if self.status.leader else 0,
        )
        family = GaugeMetricFamily(
            PREFIX + "scheduler_job_last_success_timestamp_seconds",
            "Last successful run of a scheduled job, by job id.",
            labels=["task"],
        )
        for task, at in sorted(dict(self.status.last_success).items()):
            family.add_metric([task], at)
        yield family


class NotifyCollector(Collector):
    """This process's notification deliveries, by channel (``email``, ``webhook``): sent,
    failed attempts, and deliveries parked after their last try."""

    def __init__(self, services: Services) -> None:
        self.status = services.notify_status

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for name, counts, help in (
            ("notifications_sent", self.status.sent, "Notifications delivered, by channel."),
            (
                "notifications_failed",
                self.status.failed,
                "Failed delivery attempts (retried later or parked), by channel.",
            ),
            (
                "notifications_parked",
                self.status.parked,
                "Deliveries parked after their last try (listed in the outbox), by channel.",
            ),
        ):
            family = CounterMetricFamily(PREFIX + name, help, labels=["channel"])
            for channel in ("email", "webhook"):
                family.add_metric([channel], counts.get(channel, 0))
            yield family


class EnforceCollector(Collector):
    """This process's scheduled enforcement runs, by cluster: the last run's time and the
    differences it found; changes applied, failed and skipped (unsure) since the start."""

    def __init__(self, services: Services) -> None:
        self.runs = services.enforce_runs

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        runs = self.runs
        with runs.lock:
            last = GaugeMetricFamily(
                PREFIX + "enforce_last_run_timestamp_seconds",
                "When the scheduled enforcement last ran on the cluster.",
                labels=["cluster"],
            )
            found = GaugeMetricFamily(
                PREFIX + "enforce_differences",
                "Differences between the ledger and Slurm the last run found.",
                labels=["cluster"],
            )
            for cluster in sorted(runs.last_run):
                last.add_metric([cluster], runs.last_run[cluster])
                found.add_metric([cluster], runs.differences.get(cluster, 0))
            yield last
            yield found
            for name, counts, help in (
                ("enforce_applied", runs.applied, "Changes written into Slurm."),
                ("enforce_failed", runs.failed, "Changes whose write failed (retried next run)."),
                ("enforce_skipped", runs.skipped, "Changes skipped while gpuhours was unsure."),
                ("enforce_unread", runs.unread, "Runs that could not read Slurm's state."),
            ):
                family = CounterMetricFamily(PREFIX + name, help, labels=["cluster"])
                for cluster in sorted(runs.last_run):
                    family.add_metric([cluster], counts.get(cluster, 0))
                yield family
