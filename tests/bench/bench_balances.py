"""Balance-read latency at a fixed request rate, against a real server on PostgreSQL.

A script, not a test:
    .venv/bin/python -m tests.bench.bench_balances [--rate 200] [--seconds 20] [--workers 1]
        [--scenario demo|large|both] [--projects 1000] [--reuse] [--only TEXT]

``demo`` creates (or empties) the database ``gpuhours_bench``, seeds the demo organisation
(with its usage), starts ``gpuhours serve --no-scheduler`` on loopback in a subprocess and sends
an open-loop stream at the given rate, one endpoint after the other:

* ``GET /projects/{id}/balances?period=&pool_id=`` (admin),
* ``GET /balances?period=`` (admin: every project x pool),
* ``GET /burn?period=`` (admin),
* ``GET /chairs/{id}/balances?pool_id=&period=`` (admin),
* ``GET /balances?period=`` (a researcher: her own projects).

``large`` seeds 1,000 projects x 18 chairs x 3 pools with usage (the seeding of
``bench_metrics``; database ``gpuhours_bench_metrics``) plus a researcher member of 3 projects,
then times one admin read of every row of ``GET /balances`` (pages of ``limit=1000``, followed
through ``next``; one read after the other: median, p90, max),
and sends the researcher's own ``GET /balances``, ``/burn`` and a ``/chairs/{id}/balances`` at
the given rate.

Each load prints the achieved rate, p50/p90/p99 and the CPU time spent per request by the API
process(es) and by the database's PostgreSQL backends (from ``/proc``; PostgreSQL on this
machine): a figure less at the mercy of other load on the machine than the latencies. A table
of every load closes the run. ``--only TEXT`` keeps the loads whose caller or path contains it.

The load comes from ``hey`` (Debian package ``hey``, installed on first use; a Go load
generator, so the client costs little CPU: ``-c 8 -q R/8`` holds R requests/s; its 8 workers
tick together, so requests arrive in bursts of 8, which the figures include). The client shares
the machine's cores with the server and PostgreSQL. Targets (2 cores, client included): demo,
admin ``/balances`` 200 req/s with p99 < 100 ms; large, one admin ``/balances`` < 150 ms and the
researcher's ``/balances`` 200 req/s with p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from allocator.model import Role, User
from allocator.periods import period_containing
from connectors.auth import mint_token
from connectors.bootstrap import build, utc_now
from connectors.db import tables as t
from connectors.db.migrate import upgrade
from connectors.demo import PROJECTS, seed, seed_usage
from connectors.http.pages import MAX_LIMIT
from connectors.settings import Settings
from tests.bench import bench_metrics

ADMIN_URL = os.environ.get(
    "GPUHOURS_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DB = "gpuhours_bench"


def fresh_database() -> str:
    admin = create_engine(
        ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DB}"))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{DB}"


def hey_command(*args: str) -> list[str]:
    """``hey`` with ``args`` (installed with apt-get on first use)."""
    if shutil.which("hey") is None:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "hey"], check=True, stdout=subprocess.DEVNULL
        )
    return ["hey", *args]


class CpuMeter:
    """CPU seconds of a process tree (the API) and of a database's backends, from ``/proc``."""

    def __init__(self, server_pid: int, database_url: str) -> None:
        self.server_pid = server_pid
        self.database = make_url(database_url).database

    def backends(self) -> list[int]:
        engine = create_engine(ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                query = text("SELECT pid FROM pg_stat_activity WHERE datname = :db")
                return [pid for (pid,) in conn.execute(query, {"db": self.database})]
        finally:
            engine.dispose()

    def sample(self) -> tuple[float, dict[int, float]]:
        """(the API's CPU seconds, backend pid -> CPU seconds)."""
        return sum(map(cpu_seconds, tree(self.server_pid))), {
            pid: cpu_seconds(pid) for pid in self.backends()
        }


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out = [pid]
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    out += tree(int(child))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: One line per load, printed again at the end of the run.
SUMMARY: list[str] = []


def hey(
    url: str,
    token: str,
    rate: float,
    seconds: float,
    concurrency: int = 8,
    meter: CpuMeter | None = None,
    label: str = "",
) -> None:
    before = meter.sample() if meter else None
    out = subprocess.run(
        hey_command(
            "-z",
            f"{seconds}s",
            "-c",
            str(concurrency),
            "-q",
            str(rate / concurrency),
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures = dict(re.findall(r"\s+(\d+)% in ([\d.]+) secs", out))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", out)
    errors = re.findall(r"Error distribution:(.*)", out, re.S)
    achieved = f"{float(rps.group(1)):.0f}" if rps else "?"
    print(
        f"  offered {rate:.0f}/s for {seconds:.0f} s, achieved {achieved}/s, "
        f"status codes {dict(codes)}"
        + (f", client errors {errors[0].strip()[:200]!r}" if errors else "")
    )
    latency = "  ".join(
        f"p{p} {float(figures[p]) * 1000:.1f}" for p in ("50", "90", "99") if p in figures
    )
    print(f"  latency ms: {latency}")
    if meter is None or before is None:
        return
    api, backends = meter.sample()
    done = sum(int(n) for _, n in codes) or 1
    api_ms = (api - before[0]) * 1000 / done
    db_ms = sum(cpu - before[1].get(pid, 0.0) for pid, cpu in backends.items()) * 1000 / done
    print(f"  CPU per request: API {api_ms:.2f} ms, PostgreSQL {db_ms:.2f} ms")
    SUMMARY.append(
        f"| {label} | {achieved}/s | {latency.replace('  ', ', ')} | {api_ms:.2f} | {db_ms:.2f} |"
    )


@contextlib.contextmanager
def server(database_url: str, port: int, workers: int) -> Iterator[tuple[str, CpuMeter]]:
    env = dict(os.environ, GPUHOURS_DATABASE_URL=database_url, GPUHOURS_LOG_LEVEL="warning")
    command = [sys.executable, "-m", "connectors.cli", "serve", "--no-scheduler"]
    command += ["--workers", str(workers), "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # several workers on a busy machine start slowly
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"the server on {base} did not become ready")
            time.sleep(0.2)
        yield base, CpuMeter(process.pid, database_url)
    finally:
        process.terminate()
        process.wait(10)


def load(
    base: str, meter: CpuMeter, path: str, token: str, who: str, args: argparse.Namespace
) -> None:
    if args.only and args.only not in f"{who} {path}":
        return
    rows = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    rows.raise_for_status()
    body = rows.json()
    size = len(body["items"]) if "items" in body else 1
    print(f"GET {path} as {who} ({size} rows, {len(rows.content) / 1024:.0f} KB)")
    hey(base + path, token, args.rate, 3)  # warm-up
    label = f"{args.scenario_name}, {who}, `GET {path.split('?')[0].removeprefix('/api/v1')}`"
    hey(base + path, token, args.rate, args.seconds, meter=meter, label=label)


def demo(args: argparse.Namespace) -> None:
    url = fresh_database()
    services = build(Settings(database_url=url))
    upgrade(services.engine)
    now = utc_now()
    seed(services.uow(), now)
    seed_usage(services.usage_store(), now)
    admin = mint_token(services.session_factory, "admin", now, "bench")
    alice = mint_token(services.session_factory, "alice", now, "bench")
    services.engine.dispose()
    period = period_containing(now).label
    print(
        f"== demo organisation on PostgreSQL ({len(PROJECTS)} projects, 2 pools), "
        f"{args.workers} API worker(s), period {period}"
    )
    args.scenario_name = "demo"
    with server(url, args.port, args.workers) as (base, meter):
        for path, token, who in (
            (f"/api/v1/projects/proj-thesis-01/balances?period={period}&pool_id=ai2f-jz", admin,
             "admin"),
            (f"/api/v1/balances?period={period}", admin, "admin"),
            (f"/api/v1/burn?period={period}", admin, "admin"),
            (f"/api/v1/chairs/chair-nlp/balances?pool_id=ai2f-jz&period={period}", admin,
             "admin"),
            (f"/api/v1/balances?period={period}", alice, "researcher alice"),
        ):  # fmt: skip
            load(base, meter, path, token, who, args)


def large(args: argparse.Namespace) -> None:
    now = utc_now()
    if args.reuse:  # the database of an earlier run
        url = make_url(bench_metrics.server_url())
        url = url.set(drivername="postgresql+psycopg", database=bench_metrics.DB)
        url = url.render_as_string(hide_password=False)
    else:
        url = bench_metrics.fresh_database()
        bench_metrics.seed(url, args.projects, 20, now)
    services = build(Settings(database_url=url))
    if not args.reuse:
        with services.engine.begin() as conn:
            conn.execute(insert(t.UserRow), [{"username": "ana", "role": Role.RESEARCHER.value}])
            conn.execute(
                insert(t.ProjectMemberRow),
                [{"project_id": f"proj-{i:04d}", "username": "ana"} for i in (1, 2, 3)],
            )
    admin = mint_token(services.session_factory, bench_metrics.ADMIN.username, now, "bench")
    ana = mint_token(services.session_factory, User("ana", Role.RESEARCHER).username, now, "b")
    services.engine.dispose()
    period = period_containing(now).label
    print(
        f"== {args.projects} projects x 3 pools on PostgreSQL, {args.workers} API worker(s), "
        f"period {period}"
    )
    args.scenario_name = f"{args.projects} x 3"
    with server(url, args.port, args.workers) as (base, meter):
        path = f"/api/v1/balances?period={period}&limit={MAX_LIMIT}"
        every_row(base, meter, path, admin, args)
        for path, token, who in (
            (f"/api/v1/balances?period={period}", ana, "researcher ana (3 projects)"),
            (f"/api/v1/burn?period={period}", ana, "researcher ana (3 projects)"),
            (f"/api/v1/chairs/chair-01/balances?pool_id=national&period={period}", admin,
             "admin"),
        ):  # fmt: skip
            load(base, meter, path, token, who, args)


def every_row(base: str, meter: CpuMeter, path: str, token: str, args: argparse.Namespace) -> None:
    """Time reading every row of ``path``, page after page (``next``), one read at a time."""
    times: list[float] = []
    before = meter.sample()
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=300) as client:
        deadline = time.monotonic() + 60
        while len(times) < 23 and (len(times) < 4 or time.monotonic() < deadline):
            started, rows, size, pages = time.perf_counter(), 0, 0, 0
            url: str | None = base + path
            while url is not None:
                response = client.get(url)
                response.raise_for_status()
                body = response.json()
                rows, size, pages = (
                    rows + len(body["items"]),
                    size + len(response.content),
                    pages + 1,
                )
                url = None if body["next"] is None else f"{base}{path}&cursor={body['next']}"
            times.append((time.perf_counter() - started) * 1000)
    api, backends = meter.sample()
    api_ms = (api - before[0]) * 1000 / len(times)
    db_ms = sum(c - before[1].get(p, 0.0) for p, c in backends.items()) * 1000 / len(times)
    times = sorted(times[3:])  # 3 warm-up reads
    median, p90 = statistics.median(times), times[int(0.9 * len(times))]
    print(
        f"GET {path} as admin, every row: {rows} rows in {pages} page(s), {size / 1024:.0f} KB; "
        f"one read at a time, {len(times)} reads: "
        f"median {median:.1f} ms, p90 {p90:.1f} ms, max {times[-1]:.1f} ms; "
        f"CPU per read: API {api_ms:.1f} ms, PostgreSQL {db_ms:.1f} ms"
    )
    SUMMARY.append(
        f"| {args.scenario_name}, admin, every row of `GET /balances` ({pages} pages of at most "
        f"{MAX_LIMIT}) | - | p50 {median:.1f}, p90 {p90:.1f}, max {times[-1]:.1f} | "
        f"{api_ms:.2f} | {db_ms:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--scenario", choices=("demo", "large", "both"), default="both")
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--reuse", action="store_true", help="large: the seeded database")
    parser.add_argument("--only", default="", help="only the loads whose caller/path has this")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} at the start")
    if args.scenario in ("demo", "both"):
        demo(args)
    if args.scenario in ("large", "both"):
        large(args)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end; {args.workers} API worker(s)")
    print("| load | achieved | latency ms | API CPU ms/req | PostgreSQL CPU ms/req |")
    print("|---|---|---|---|---|")
    print("\n".join(SUMMARY))


if __name__ == "__main__":
    main()
