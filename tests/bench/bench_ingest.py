"""End-to-end ingestion throughput: slurmrestd reply -> decode -> upsert into PostgreSQL.

A script, not a test:
    .venv/bin/python -m tests.bench.bench_ingest [--jobs 1000000] [--version v0.0.38|v0.0.43|both]
        [--per-window 20000] [--chunk 86400] [--compact] [--profile] [--time-zone Europe/Paris]

It creates (drops first) the database ``gpuhours_bench_ingest`` through the ``postgres`` admin
database (``GPUHOURS_BENCH_ADMIN_URL``), migrates it, and synthesises ``--jobs`` job records in
the shape of real ``/slurmdb/<version>/jobs`` replies (the recorded template records of
``bench_decode``, varying job ids, times, state, account, user, partition, CPUs and GPUs;
``steps: []`` as with ``skip_steps``; pretty-printed like slurmrestd unless ``--compact``).
The jobs are spread over time so that every ingestion window (``--chunk`` seconds, default one
day, the default ``chunk_seconds``) holds ``--per-window`` jobs; a job is returned by the window
holding its start.

Before anything is timed, every window's reply body is rendered to a file in a temporary
directory (streamed, so rendering costs no memory: a million pretty-printed v0.0.43 records are
5.5 GB, far more than the 500 MB the ingesting process may use); an ``httpx.MockTransport``
handler - the process edge - answers
``GET /slurmdb/<version>/jobs?start_time=uts<start>&end_time=uts<end>`` with the body of exactly
that window, read from its file. The time the handler spends producing bodies (the file reads)
is measured and subtracted: "jobs/s end to end" is jobs / (wall - serving), as if the bodies
had been in memory; the plain wall-clock rate is printed next to it.

The timed path is the production one: ``run_ingest`` -> ``ingest`` -> ``RestUsageSource`` ->
``SlurmRestClient`` (httpx, decode + normalise) -> ``SqlUsageStore.store_window`` (COPY into
staging, ``INSERT .. ON CONFLICT DO UPDATE WHERE changed``, quarantine, watermark, run row).

Printed per version: the first pass (all inserts) and a re-ingest of the same windows (all
unchanged; it must not be slower), each with CPU seconds of this process and of the PostgreSQL
backends (from /proc, PostgreSQL being local) and the WAL it wrote; whether the re-ingest made
new row versions (table size, rows locked); peak RSS of the process (``ru_maxrss``) next to its
baseline just before timing; and the rate of a raw COPY of the same rows into an index-free
scratch table of the same columns (the ceiling), binary (as the store does) and text.
``--version both`` runs each version in its own process so that each peak RSS is its own.
The machine is shared: figures move by +-10 % from run to run with other load.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import Engine, text

from accounting.ingestion import IngestReport, plan_windows
from allocator.periods import Calendar
from connectors.db.engine import make_engine
from connectors.db.migrate import upgrade
from connectors.db.usage_rows import COPY_TYPES, QUOTED_COLUMNS, row_of
from connectors.db.usage_store import SqlUsageStore
from connectors.ingest import RestUsageSource, run_ingest
from connectors.settings import ClusterConfig
from connectors.slurm.auth import StaticToken
from connectors.slurm.client import SlurmRestClient
from connectors.slurm.decode import decode_jobs
from tests.bench.bench_decode import ACCOUNTS, TEMPLATES, USERS, _template

ADMIN_URL = os.environ.get(
    "GPUHOURS_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DB = "gpuhours_bench_ingest"
BASE_URL = "http://slurmrestd.bench:6820"
T0 = 1_790_000_000  # 2026-09-21T14:13:20Z: the first window starts here
PARTITIONS = ("gpu", "gpu-long", "gpu-short", "gpu-debug")
STATES = ("COMPLETED",) * 17 + ("FAILED", "CANCELLED", "TIMEOUT")
GPUS = (1, 1, 1, 2, 2, 4, 8)
_SENTINEL = re.compile(r'"@@(\w+):([ds])@@"')


def fresh_database() -> str:
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DB}"))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{DB}"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- synthetic replies --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyShape:
    """A reply as ``head + record_1 + sep + ... + record_n + tail``; records by ``% values``."""

    cluster: str
    head: str
    record: str  # a %-format with named fields
    sep: str
    tail: str


def reply_shape(version: str, *, pretty: bool) -> ReplyShape:
    tpl = _template(version, keep_steps=False)
    rec: dict[str, Any] = tpl["record"]
    rec["job_id"] = "@@job_id:d@@"
    times = rec["time"]
    times["submission"] = times["eligible"] = "@@submit:d@@"
    times["start"] = "@@start:d@@"
    times["end"] = "@@end:d@@"
    times["elapsed"] = "@@elapsed:d@@"
    rec["account"] = "@@account:s@@"
    rec["user"] = rec["group"] = "@@user:s@@"
    rec["partition"] = "@@partition:s@@"
    assoc = rec.get("association") or {}
    if assoc.get("account"):
        assoc["account"] = "@@account:s@@"
    if assoc.get("user"):
        assoc["user"] = "@@user:s@@"
    current = rec["state"]["current"]
    rec["state"]["current"] = ["@@state:s@@"] if isinstance(current, list) else "@@state:s@@"
    for group in ("allocated", "requested"):
        for item in rec["tres"][group]:
            name = item.get("name") or ""
            if item["type"] == "cpu":
                item["count"] = "@@cpus:d@@"
            elif item["type"] == "gres" and (name == "gpu" or name.startswith("gpu:")):
                item["count"] = "@@gpus:d@@"
    indent = 2 if pretty else None
    body = json.dumps(rec, indent=indent).replace("%", "%%")
    record = _SENTINEL.sub(lambda m: f'"%({m[1]})s"' if m[2] == "s" else f"%({m[1]})d", body)
    envelope = json.dumps({**tpl["envelope"], "jobs": ["@@JOBS@@"]}, indent=indent)
    if pretty:  # a record sits two levels deep: {"jobs": [ {...} ]}
        record = record.replace("\n", "\n    ")
        head, tail = envelope.split('"@@JOBS@@"')
        return ReplyShape(rec["cluster"], head, record, ",\n    ", tail)
    head, tail = envelope.split('"@@JOBS@@"')
    return ReplyShape(rec["cluster"], head, record, ", ", tail)


def render_bodies(
    shape: ReplyShape, jobs: int, per_window: int, chunk: int, directory: Path, seed: int = 7
) -> list[tuple[int, int, Path, int]]:
    """Write one reply per window; returns ``(start, end, file, records)`` per window."""
    rnd = random.Random(seed)
    choice, randrange = rnd.choice, rnd.randrange
    windows = []
    job_id = 1_000_000
    for w in range((jobs + per_window - 1) // per_window):
        start, end = T0 + w * chunk, T0 + (w + 1) * chunk
        n = min(per_window, jobs - w * per_window)
        path = directory / f"window-{w:05d}.json"
        with path.open("w") as out:
            out.write(shape.head)
            parts = []
            for i in range(n):
                submit = start + i * chunk // n
                begin = min(submit + randrange(0, 900), end - 1)
                elapsed = randrange(30, 1800) if randrange(4) else randrange(1800, 2 * 86400)
                gpus = choice(GPUS)
                parts.append(
                    shape.record
                    % {
                        "job_id": job_id,
                        "submit": submit,
                        "start": begin,
                        "end": begin + elapsed,
                        "elapsed": elapsed,
                        "account": choice(ACCOUNTS),
                        "user": choice(USERS),
                        "partition": choice(PARTITIONS),
                        "state": choice(STATES),
                        "cpus": 8 * gpus,
                        "gpus": gpus,
                    }
                )
                job_id += 1
                if len(parts) == 1000:
                    out.write(shape.sep.join(parts))
                    parts = []
                    if i + 1 < n:
                        out.write(shape.sep)
            out.write(shape.sep.join(parts))
            out.write(shape.tail)
        windows.append((start, end, path, n))
    return windows


class ReplyServer:
    """The ``httpx.MockTransport`` handler: each window's body, by ``start_time``."""

    def __init__(self, version: str, windows: list[tuple[int, int, Path, int]]) -> None:
        self.path = f"/slurmdb/{version}/jobs"
        self.windows = {f"uts{s}": (f"uts{e}", p) for s, e, p, _ in windows}
        self.seconds = 0.0
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        began = time.perf_counter()
        found = self.windows.get(request.url.params.get("start_time", ""))
        if (
            request.url.path != self.path
            or found is None
            or request.url.params.get("end_time") != found[0]
        ):
            return httpx.Response(400, text=f"unexpected request {request.url}")
        body = found[1].read_bytes()
        self.requests += 1
        self.seconds += time.perf_counter() - began
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})


# --- measurements ------------------------------------------------------------------------------


def wal_lsn(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar_one())


def usage_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM usage_records")).scalar_one())


def table_facts(engine: Engine) -> tuple[int, int]:
    """Size of ``usage_records`` in bytes, and rows whose xmax is set (locked or updated)."""
    with engine.connect() as conn:
        size, locked = conn.execute(
            text(
                "SELECT pg_table_size('usage_records'), "
                "(SELECT count(*) FROM usage_records WHERE xmax <> '0'::xid)"
            )
        ).one()
    return int(size), int(locked)


def backend_cpu(url: str) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends serving the bench database."""
    try:
        with psycopg.connect(url) as conn:
            pids = [
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
        ticks = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, psycopg.Error):
        return None  # PostgreSQL not on this machine (or not readable)


def one_pass(
    label: str,
    engine: Engine,
    version: str,
    shape: ReplyShape,
    windows: list[tuple[int, int, Path, int]],
    chunk: int,
    now: datetime,
    profile: bool,
    url: str,
    calendar: Calendar,
) -> tuple[float, IngestReport]:
    server = ReplyServer(version, windows)
    client = SlurmRestClient(
        BASE_URL,
        "gpuhours",
        StaticToken("bench-token"),
        version,
        transport=httpx.MockTransport(server),
        attempts=1,
    )
    config = ClusterConfig(
        name=shape.cluster, url=BASE_URL, api_version=version, chunk_seconds=chunk
    )
    source = RestUsageSource(config, client)
    store = SqlUsageStore(engine, calendar)
    since = datetime.fromtimestamp(windows[0][0], UTC)
    until = datetime.fromtimestamp(windows[-1][1], UTC)
    jobs = sum(w[3] for w in windows)
    with engine.connect() as conn:  # the store's pooled connection exists before timing
        conn.execute(text("SELECT 1"))
    lsn = wal_lsn(engine)
    server_cpu = backend_cpu(url)
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    report = run_ingest(store, config, now, since=since, until=until, source=source)
    if profiler is not None:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = backend_cpu(url)
    client.close()
    wal = wal_lsn(engine) - lsn
    assert report.ok, report.error
    assert report.windows == len(windows) == server.requests, (report, server.requests)
    rate = jobs / (wall - server.seconds)
    pg_cpu = "n/a" if server_cpu is None or after is None else f"{after - server_cpu:.2f} s"
    print(
        f"  {label}: {jobs:,} jobs, {report.windows} windows: {rate:,.0f} jobs/s end to end "
        f"(wall {wall:.2f} s - serving bodies {server.seconds:.2f} s; wall-clock rate with "
        f"serving {jobs / wall:,.0f} jobs/s)\n"
        f"      inserted {report.inserted:,} updated {report.updated:,} unchanged "
        f"{report.unchanged:,} quarantined {report.quarantined:,}; CPU: this process "
        f"{cpu - server.seconds:.2f} s (+ serving), PostgreSQL backends {pg_cpu}; "
        f"WAL {wal / 1e6:,.0f} MB; peak RSS so far {rss_mb():.0f} MB"
    )
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(25)
    return rate, report


def copy_ceiling(
    engine: Engine, windows: list[tuple[int, int, Path, int]], now: int
) -> tuple[float, float, int]:
    """Rows/s of a bare ``COPY FROM STDIN`` of the same rows into an index-free table of the
    same columns, binary (as the store) and text, one transaction per window.

    Per window (to keep memory flat): decode and build the rows untimed, then time the COPY
    and the commit only.
    """
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS copy_ceiling"))
        conn.execute(text("CREATE TABLE copy_ceiling (LIKE usage_records INCLUDING DEFAULTS)"))
    seconds = {"binary": 0.0, "text": 0.0}
    rows_total = 0
    for _, _, path, _ in windows:
        rows = [row_of(r, now) for r in decode_jobs(path.read_bytes()).records]
        rows_total += len(rows)
        for form in seconds:
            began = time.perf_counter()
            with engine.begin() as conn:
                raw = conn.connection.driver_connection
                assert raw is not None
                options = " (FORMAT BINARY)" if form == "binary" else ""
                with (
                    raw.cursor() as cur,
                    cur.copy(f"COPY copy_ceiling ({QUOTED_COLUMNS}) FROM STDIN{options}") as copy,
                ):
                    if form == "binary":
                        copy.set_types(COPY_TYPES)
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row)
            seconds[form] += time.perf_counter() - began
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE copy_ceiling"))
    return rows_total / seconds["binary"], rows_total / seconds["text"], rows_total


def run_version(args: argparse.Namespace, version: str) -> None:
    url = fresh_database()
    engine = make_engine(url)
    upgrade(engine)
    shape = reply_shape(version, pretty=not args.compact)
    directory = Path(tempfile.mkdtemp(prefix=f"gpuhours-bench-ingest-{version}-"))
    try:
        began = time.perf_counter()
        windows = render_bodies(shape, args.jobs, args.per_window, args.chunk, directory)
        size = sum(p.stat().st_size for _, _, p, _ in windows)
        # planned windows must be exactly the rendered ones (the handler answers only those)
        planned = plan_windows(
            None,
            0,
            overlap=0,
            chunk=args.chunk,
            initial_lookback=0,
            since=windows[0][0],
            until=windows[-1][1],
        )
        assert [(w.start, w.end) for w in planned] == [(s, e) for s, e, _, _ in windows]
        print(
            f"{version}: {args.jobs:,} jobs, {len(windows)} windows of {args.chunk} s "
            f"({args.chunk / 3600:g} h) with {args.per_window:,} jobs each; replies "
            f"{'compact' if args.compact else 'pretty-printed'}, {size / len(windows) / 1e6:.1f} "
            f"MB per reply ({size / args.jobs:.0f} B/job), {size / 1e9:.2f} GB in all, rendered "
            f"to disk in {time.perf_counter() - began:.1f} s (untimed)"
        )
        baseline = rss_mb()
        print(f"  RSS baseline before timing: {baseline:.0f} MB")
        end = windows[-1][1]
        first, r1 = one_pass(
            "first pass",
            engine,
            version,
            shape,
            windows,
            args.chunk,
            datetime.fromtimestamp(end, UTC),
            args.profile,
            url,
            Calendar(zone_name=args.time_zone),
        )
        assert r1.inserted == args.jobs and r1.updated == r1.unchanged == 0, r1
        assert usage_rows(engine) == args.jobs
        size_before, _ = table_facts(engine)
        again, r2 = one_pass(
            "re-ingest ",
            engine,
            version,
            shape,
            windows,
            args.chunk,
            datetime.fromtimestamp(end + 3600, UTC),
            args.profile,
            url,
            Calendar(zone_name=args.time_zone),
        )
        assert r2.unchanged == args.jobs and r2.inserted == r2.updated == 0, r2
        assert usage_rows(engine) == args.jobs
        peak = rss_mb()
        size_after, locked = table_facts(engine)
        print(
            f"  re-ingest writes: table {size_before / 1e6:,.1f} MB -> {size_after / 1e6:,.1f} "
            f"MB ({'no new row versions' if size_after == size_before else 'GREW'}, updated "
            f"{r2.updated}); {locked:,} rows carry the re-ingest's row lock in xmax (ON CONFLICT "
            f"DO UPDATE locks each conflicting row before testing its WHERE: that is its WAL)"
        )
        binary, textual, copied = copy_ceiling(engine, windows, end)
        print(
            f"  raw COPY ceiling: {copied:,} rows -> {binary:,.0f} rows/s binary "
            f"({textual:,.0f} rows/s text)"
        )
        print(
            f"  SUMMARY {version}: first pass {first:,.0f} jobs/s, re-ingest {again:,.0f} jobs/s "
            f"({'not slower' if again >= first else 'SLOWER'}), COPY ceiling {binary:,.0f} "
            f"rows/s; RSS baseline {baseline:.0f} MB, peak {peak:.0f} MB; targets: "
            f">= 80,000 jobs/s with charging (issue 17) "
            f"{'met' if min(first, again) >= 80_000 else 'NOT met'}, "
            f"peak RSS < 500 MB {'met' if peak < 500 else 'NOT met'}"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--version", choices=[*TEMPLATES, "both"], default="both")
    parser.add_argument("--per-window", type=int, default=20_000, help="jobs per reply")
    parser.add_argument("--chunk", type=int, default=86_400, help="window length, seconds")
    parser.add_argument("--compact", action="store_true", help="compact JSON, not pretty")
    parser.add_argument("--profile", action="store_true", help="cProfile both passes")
    parser.add_argument("--time-zone", default="UTC", help="site time zone (charges' days)")
    args = parser.parse_args()
    if args.version == "both":  # one process per version: each peak RSS is its own
        for version in TEMPLATES:
            command = [sys.executable, "-m", "tests.bench.bench_ingest", *sys.argv[1:]]
            command += ["--version", version]
            subprocess.run(command, check=True)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, database {DB}")
    run_version(args, args.version)


if __name__ == "__main__":
    main()
