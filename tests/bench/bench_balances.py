"""Balance-read latency at a fixed request rate, against a real server on PostgreSQL.

A script, not a test:
    .venv/bin/python -m tests.bench.bench_balances [--rate 200] [--seconds 20] [--workers 2]

It creates (or empties) the database ``gpuhours_bench``, seeds the demo organisation, starts
``gpuhours serve --no-scheduler`` on loopback in a subprocess and sends an open-loop stream of
``GET /api/v1/projects/{id}/balances?period=...&pool_id=...`` at the given rate with ``hey``
(Debian package ``hey``, installed on first use; a Go load generator, so the client costs
little CPU: ``-c 8 -q R/8`` holds R requests/s; its 8 workers tick together, so requests
arrive in bursts of 8, which the figures include), then prints the latency distribution. The
client shares the machine's 2 cores with the server and PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

import httpx
from sqlalchemy import create_engine, text

from allocator.periods import period_containing
from connectors.auth import mint_token
from connectors.bootstrap import build, utc_now
from connectors.db.migrate import upgrade
from connectors.demo import PROJECTS, seed
from connectors.settings import Settings

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


def hey(url: str, token: str, rate: float, seconds: float, concurrency: int = 8) -> None:
    if shutil.which("hey") is None:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "hey"], check=True, stdout=subprocess.DEVNULL
        )
    out = subprocess.run(
        [
            "hey",
            "-z",
            f"{seconds}s",
            "-c",
            str(concurrency),
            "-q",
            str(rate / concurrency),
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures = dict(re.findall(r"\s+(\d+)% in ([\d.]+) secs", out))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", out)
    print(
        f"offered {rate:.0f}/s for {seconds:.0f} s, achieved {rps.group(1) if rps else '?'}/s, "
        f"status codes {dict(codes)}"
    )
    print(
        "latency ms: "
        + "  ".join(
            f"p{p} {float(figures[p]) * 1000:.1f}" for p in ("50", "90", "99") if p in figures
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    url = fresh_database()
    services = build(Settings(database_url=url))
    upgrade(services.engine)
    seed(services.uow(), utc_now())
    token = mint_token(services.session_factory, "admin", utc_now(), "bench")
    period = period_containing(utc_now()).label
    env = dict(os.environ, GPUHOURS_DATABASE_URL=url, GPUHOURS_LOG_LEVEL="warning")
    command = [
        sys.executable,
        "-m",
        "connectors.cli",
        "serve",
        "--no-scheduler",
        "--workers",
        str(args.workers),
        "--port",
        str(args.port),
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        url = f"{base}/api/v1/projects/proj-thesis-01/balances?period={period}&pool_id=ai2f-jz"
        print(
            f"balance reads on PostgreSQL, demo data ({len(PROJECTS)} projects, 2 pools), "
            f"{args.workers} API worker(s): GET {url.removeprefix(base)}"
        )
        hey(url, token, args.rate, 3)  # warm-up
        hey(url, token, args.rate, args.seconds)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
