"""100 concurrent balance readers and 50 concurrent writers against ``gpuhours serve`` on SQLite.

A script, not a test:
    .venv/bin/python -m tests.bench.bench_sqlite_mix [--readers 100] [--writers 50]
        [--seconds 20] [--synchronous FULL|NORMAL]

It seeds the demo organisation (``gpuhours demo``, with its usage) into a new SQLite database
in a temporary data directory, starts ``gpuhours serve --no-scheduler`` (one process) on
loopback, and runs two ``hey`` load generators at once, closed loop, for ``--seconds``:

* ``--readers`` connections each sending ``GET /api/v1/balances?period=<current>`` as the
  administrator (every project x pool) back to back;
* ``--writers`` connections each sending ``POST /api/v1/allocations/projects`` (0.01 h of
  ``enact-local`` to ``proj-thesis-01``, drawn from the pool when the chair has none left):
  every one a read-check-append of the journal under the write lock.

It prints the status codes, errors and p50/p90/p99 of each side, then checks the journal: as
many allocation entries as 201 answers, the pool never over-committed. ``--synchronous
NORMAL`` runs the server with ``PRAGMA synchronous=NORMAL`` instead of FULL, to measure what
durability costs. The client shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from allocator.ledger import pool_balance
from allocator.model import EntryKind
from allocator.periods import period_containing
from connectors.auth import mint_token
from connectors.bootstrap import build, utc_now
from connectors.settings import Settings
from tests.bench.bench_balances import hey_command

POOL, PROJECT, HOURS, REASON = "enact-local", "proj-thesis-01", "0.01", "bench-mix"


def parse(out: str) -> dict[str, object]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "latency": {p: float(s) * 1000 for p, s in re.findall(r"\s+(\d+)% in ([\d.]+) secs", out)},
        "codes": {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)},
        "errors": [
            (int(n), message.strip())
            for n, message in re.findall(r"^\s+\[(\d+)\]\s+(\D.*)$", out, re.M)
        ],
        "rps": float(rps.group(1)) if rps else 0.0,
    }


def show(label: str, figures: dict[str, object]) -> None:
    latency = figures["latency"]
    assert isinstance(latency, dict)
    print(
        f"{label:<8} {figures['rps']:7.1f} req/s  status {figures['codes']}  "
        + "  ".join(f"p{p} {latency[p]:.1f} ms" for p in ("50", "90", "99") if p in latency)
    )
    if figures["errors"]:
        print(f"         client errors: {figures['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="gpuhours-mix-"))
    url = f"sqlite:///{data / 'gpuhours.db'}"
    env = dict(os.environ, GPUHOURS_DATABASE_URL=url, GPUHOURS_LOG_LEVEL="warning")
    cli = [sys.executable, "-m", "connectors.cli"]
    subprocess.run([*cli, "demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    services = build(Settings(database_url=url))
    token = mint_token(services.session_factory, "admin", utc_now(), "bench")
    period = period_containing(utc_now()).label
    patch = f"import connectors.db.engine as e; e.SYNCHRONOUS = {args.synchronous!r}; "
    patch += "from connectors.cli import main; main()"
    server = subprocess.Popen(
        [sys.executable, "-c", patch, "serve", "--no-scheduler", "--port", str(args.port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{args.port}/api/v1"
    auth = ["-H", f"Authorization: Bearer {token}"]
    body = {"pool_id": POOL, "project_id": PROJECT, "period": period, "hours": HOURS,
            "reason": REASON, "draw_from_pool": True}  # fmt: skip
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base.removesuffix('/api/v1')}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        rows = httpx.get(f"{base}/balances?period={period}", headers=headers)
        listed = len(rows.json()["items"])
        print(
            f"SQLite ({data}), synchronous={args.synchronous}, demo data, one server process; "
            f"{args.readers} readers of GET /balances?period={period} ({listed} rows) "
            f"+ {args.writers} writers of POST /allocations/projects, {args.seconds:.0f} s"
        )
        duration = ["-z", f"{args.seconds}s"]
        readers = subprocess.Popen(
            hey_command(*duration, "-c", str(args.readers), *auth,
                        f"{base}/balances?period={period}"),
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        writers = subprocess.Popen(
            hey_command(*duration, "-c", str(args.writers), *auth, "-m", "POST",
                        "-T", "application/json", "-d", json.dumps(body),
                        f"{base}/allocations/projects"),
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        reads, writes = parse(readers.communicate()[0]), parse(writers.communicate()[0])
    finally:
        server.terminate()
        server.wait(30)
    show("reads", reads)
    show("writes", writes)

    with services.uow() as uow:
        entries = uow.ledger.entries(pool_id=POOL, period=period)
        pool = pool_balance(uow.ledger.flows(POOL, period), POOL, period)
    mine = [e for e in entries if e.reason == REASON and e.target == f"project:{PROJECT}"]
    created = writes["codes"].get(201, 0)  # type: ignore[attr-defined]
    errors = sum(n for c, n in reads["codes"].items() if c != 200)  # type: ignore[attr-defined]
    errors += sum(n for c, n in writes["codes"].items() if c != 201)  # type: ignore[attr-defined]
    lost = sum(n for n, _ in writes["errors"])  # type: ignore[attr-defined]
    errors += lost + sum(n for n, _ in reads["errors"])  # type: ignore[attr-defined]
    consistent = (
        created <= len(mine) <= created + lost  # a write the client gave up on may have landed
        and all(e.kind is EntryKind.ALLOCATE and e.amount == 36 for e in mine)
        and 0 <= pool.unallocated == pool.capacity - pool.allocated
    )
    print(
        f"journal: {len(mine)} allocation entries for {created} answers 201; pool {POOL} "
        f"capacity {pool.capacity} s, allocated {pool.allocated} s, unallocated "
        f"{pool.unallocated} s: {'consistent' if consistent else 'INCONSISTENT'}; "
        f"errors: {errors}"
    )
    services.engine.dispose()
    if errors or not consistent:
        sys.exit(1)


if __name__ == "__main__":
    main()
