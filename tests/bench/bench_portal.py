"""The portal's pages at scale: server time of each page, 1,000 projects x 3 pools on PostgreSQL.

A script, not a test:
    .venv/bin/python -m tests.bench.bench_portal [--projects 1000] [--requests 60] [--reuse]

Seeds the organisation of ``bench_metrics`` (1,000 projects of 18 chairs, 3 pools, usage
over 20 days; database ``gpuhours_bench_metrics``; ``--reuse`` keeps an earlier run's) plus a
researcher, ana, member of 3 projects; starts ``gpuhours serve --no-scheduler`` on loopback;
signs ana and the administrator in through the portal's sign-in form (a session cookie, as a
browser holds it); then asks each page ``--requests`` times, one after the other (after 3
warm-up asks), and prints p50, p95 and max of the time to the whole answer, and its size.
The client is one Python process on loopback: its own share of each figure is about a
millisecond. Target (issue 12): p95 < 100 ms for the researcher's and the administrator's
main pages.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from datetime import timedelta

import httpx
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from allocator.model import Role
from allocator.periods import period_containing
from connectors.auth import mint_token
from connectors.bootstrap import build, utc_now
from connectors.db import tables as t
from connectors.settings import Settings
from tests.bench import bench_metrics
from tests.bench.bench_balances import CpuMeter, server

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def database(args: argparse.Namespace) -> str:
    now = utc_now()
    if args.reuse:
        url = make_url(bench_metrics.server_url())
        return url.set(drivername="postgresql+psycopg", database=bench_metrics.DB).render_as_string(
            hide_password=False
        )
    url = bench_metrics.fresh_database()
    bench_metrics.seed(url, args.projects, 20, now)
    services = build(Settings(database_url=url))
    with services.engine.begin() as conn:
        conn.execute(insert(t.UserRow), [{"username": "ana", "role": Role.RESEARCHER.value}])
        conn.execute(
            insert(t.ProjectMemberRow),
            [{"project_id": f"proj-{i:04d}", "username": "ana"} for i in (1, 2, 3)],
        )
    services.engine.dispose()
    return url


def signed_in(base: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    form = client.get("/portal/signin")
    found = CSRF.search(form.text)
    assert found is not None, form.text[:200]
    answer = client.post(
        "/portal/signin", data={"csrf": found.group(1), "token": token, "next": "/projects"}
    )
    assert answer.status_code == 303, answer.text[:300]
    return client


def ask(client: httpx.Client, path: str, times: int) -> tuple[list[float], int]:
    for _ in range(3):  # warm-up
        client.get(path).raise_for_status()
    took: list[float] = []
    size = 0
    for _ in range(times):
        start = time.perf_counter()
        answer = client.get(path)
        took.append((time.perf_counter() - start) * 1000)
        answer.raise_for_status()
        size = len(answer.content)
    return took, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--port", type=int, default=8771)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    url = database(args)
    now = utc_now()
    services = build(Settings(database_url=url))
    admin = mint_token(services.session_factory, bench_metrics.ADMIN.username, now, "bench")
    ana = mint_token(services.session_factory, "ana", now, "bench")
    services.engine.dispose()
    period = period_containing(now).label
    previous = period_containing(period_containing(now).start - timedelta(days=1)).label
    pages = {
        "researcher ana (3 projects)": [
            "/portal/projects",
            f"/portal/projects/proj-0001?period={period}",
            f"/portal/projects/proj-0001/jobs?period={period}",
            "/portal/requests",
            "/portal/requests/new",
        ],
        f"admin ({args.projects} projects x 3 pools)": [
            "/portal/projects",
            "/portal/queue",
            f"/portal/quarter?period={previous}&pool=national",
            f"/portal/reports/{period}",
            "/portal/journal",
            "/portal/audit",
            f"/portal/allocations?period={period}",
            "/portal/ingestion",
            f"/portal/unmapped?period={period}",
            f"/portal/burn?period={period}",
        ],
    }
    tokens = {"researcher ana (3 projects)": ana}
    print(f"== the portal, {args.projects} projects x 3 pools on PostgreSQL, period {period}")
    rows = ["| who | page | p50 ms | p95 ms | max ms | KB |", "|---|---|---|---|---|---|"]
    with server(url, args.port, 1) as (base, _meter):
        assert isinstance(_meter, CpuMeter)
        for who, paths in pages.items():
            client = signed_in(base, tokens.get(who, admin))
            for path in paths:
                took, size = ask(client, path, args.requests)
                p95 = statistics.quantiles(took, n=20)[-1]
                line = (
                    f"| {who} | `{path.split('?')[0]}` | {statistics.median(took):.1f} | "
                    f"{p95:.1f} | {max(took):.1f} | {size / 1024:.0f} |"
                )
                print(line, flush=True)
                rows.append(line)
            client.close()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
