"""Random sequences of operations through the HTTP API, checked against the raw journal.

Each example starts from a fresh seeded world (pools ``nat`` and ``loc``, chairs ``chair-a``
(projects ``p1``, ``p1b``) and ``chair-b`` (``p2``)) and runs up to 15 operations over two
pools and two periods: allocations pool -> chair and chair -> project (with and without
``draw_from_pool``), transfers, signed adjustments, requests submitted then approved (in full
or in part), rejected or withdrawn, and requests for exactly all that a pool, chair or project
has, or one 36-second step more (an over-commit, which must fail). Releases are not exposed by
the API, so they are not exercised here.

Before every operation the expected outcome (status code) is derived from the journal as it
stands, with sums written here independently of ``allocator.ledger``; the call must end that
way. After every operation the journal must keep the invariants (positive integer amounts; no
pool gives more than its capacity x over-commit; no chair gives more than it received
x over-commit). After the sequence, every balance the API reports (``/balances``,
``/pools/{id}/balances``, ``/chairs/{id}/balances``) must equal both the independent sums and
``allocator.ledger``'s functions over ``uow.ledger.entries()``, and every request must be in the
state the sequence predicts, its granted hours matching its journal entries.

Runs on SQLite and PostgreSQL: 30 examples take about 4 s on SQLite and 7 s on PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from allocator.ledger import chair_balance, flows_of, pool_balance, project_balance
from connectors.auth import mint_token
from connectors.bootstrap import Services
from connectors.db.tables import Base
from tests.api.journal_sums import Book, stretch
from tests.api.random_operations import (
    CHAIRS,
    PERIODS,
    POOLS,
    PROJECTS,
    Adjust,
    AllocChair,
    AllocProject,
    Boundary,
    Decide,
    Rebalance,
    Submit,
    Transfer,
    hours,
    operations,
)
from tests.builders import seed_world

# --- the run ----------------------------------------------------------------------------------


@dataclass
class Run:
    client: TestClient
    services: Services
    headers: dict[str, str]
    overcommit: dict[str, int]
    requests: list[tuple[int, Submit]]
    states: dict[int, str]
    granted: dict[int, dict[str, int]]

    def book(self) -> Book:
        with self.services.uow() as uow:
            return Book(list(uow.ledger.entries()))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(f"/api/v1{path}", headers=self.headers, json=body)

    def get(self, path: str) -> Any:
        r = self.client.get(f"/api/v1{path}", headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()

    def items(self, path: str) -> list[Any]:
        """Every item of a list, ``next`` followed to the end."""
        url = httpx.URL(f"/api/v1{path}")
        params = dict(url.params) | {"limit": "1000"}  # the path's own query, kept
        found: list[Any] = []
        while True:
            answer = self.client.get(url.path, headers=self.headers, params=params)
            assert answer.status_code == 200, answer.text
            found.extend(answer.json()["items"])
            if answer.json()["next"] is None:
                return found
            params["cursor"] = answer.json()["next"]


def reset(services: Services) -> None:
    """Empty every table: each example starts from the same freshly seeded world."""
    with services.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def start(client: TestClient, services: Services, nat_overcommit: int) -> Run:
    reset(services)
    now = services.clock()
    seed_world(services.uow(), now)
    headers = {"Authorization": f"Bearer {mint_token(services.session_factory, 'admin', now)}"}
    run = Run(client, services, headers, {"nat": 1000, "loc": 1000}, [], {}, {})
    if nat_overcommit != 1000:
        r = run.post(
            "/pools/nat/overcommit",
            {"factor": str(Decimal(nat_overcommit) / 1000), "reason": "stretch"},
        )
        assert r.status_code == 200, r.text
        run.overcommit["nat"] = nat_overcommit
    return run


def step(run: Run, op: Any) -> None:
    """Predict the outcome of ``op`` from the journal, perform it, check it ended that way."""
    book = run.book()
    match op:
        case AllocChair(pool, chair, period, q):
            expected = (
                201 if q * 900 <= book.pool_headroom(pool, period, run.overcommit[pool]) else 409
            )
            body = {"pool_id": pool, "chair_id": chair, "period": period, "hours": hours(q)}
            r = run.post("/allocations/chairs", {**body, "reason": "op"})
        case AllocProject(pool, project, period, q, draw):
            oc = run.overcommit[pool]
            chair = PROJECTS[project]
            if draw:
                ok = book.can_allocate(pool, period, project, q * 900, oc)
            else:
                ok = q * 900 <= book.chair_headroom(pool, period, chair, oc)
            expected = 201 if ok else 409
            body = {"pool_id": pool, "project_id": project, "period": period, "hours": hours(q)}
            r = run.post("/allocations/projects", {**body, "reason": "op", "draw_from_pool": draw})
        case Transfer(pool, period, source, target, q):
            if source == target or PROJECTS[source] != PROJECTS[target]:
                expected = 422
            else:
                held = book.held(pool, period, f"project:{source}")
                expected = 201 if q * 900 <= held else 409
            r = run.post(
                "/transfers",
                {
                    "pool_id": pool,
                    "period": period,
                    "from_project": source,
                    "to_project": target,
                    "hours": hours(q),
                    "reason": "op",
                },
            )
        case Rebalance(pool, period, source, target):
            held = book.held(pool, period, f"project:{source}")
            steps = max(held // 2 // 36, 1)
            expected = 201 if steps * 36 <= held else 409
            r = run.post(
                "/transfers",
                {
                    "pool_id": pool,
                    "period": period,
                    "from_project": source,
                    "to_project": target,
                    "hours": str(Decimal(steps) / 100),
                    "reason": "rebalance",
                },
            )
        case Adjust(pool, project, period, q):
            expected = 201
            body = {"pool_id": pool, "project_id": project, "period": period, "hours": hours(q)}
            r = run.post("/adjustments", {**body, "reason": "correction"})
        case Boundary(level, pool, period, project, over):
            path, body, available = boundary(run, book, level, pool, period, project)
            steps = max(available, 0) // 36 + (1 if over else 0)
            expected = 409 if over else (201 if steps else 422)
            r = run.post(path, {**body, "hours": str(Decimal(steps) / 100), "reason": "edge"})
            assert r.status_code == 201 or r.json()["error"]["field"] == "hours", r.text
        case Submit(project, pool, lines):
            expected = 201
            r = run.post(
                "/requests",
                {
                    "project_id": project,
                    "pool_id": pool,
                    "periods": [{"period": p, "hours": hours(q)} for p, q in lines],
                    "justification": "work",
                },
            )
            if r.status_code == 201:
                rid = r.json()["id"]
                run.requests.append((rid, op))
                run.states[rid] = "submitted"
        case Decide(action, index, quarters):
            if not run.requests:
                return
            rid, submit = run.requests[index % len(run.requests)]
            r, expected = decide(run, book, rid, submit, action, quarters)
        case _:  # pragma: no cover
            raise AssertionError(op)
    assert r.status_code == expected, f"{op}: expected {expected}, got {r.status_code}: {r.text}"
    event(f"{type(op).__name__} -> {expected}")
    check_invariants(run)


def boundary(
    run: Run, book: Book, level: str, pool: str, period: str, project: str
) -> tuple[str, dict[str, Any], int]:
    """The call that draws on ``level`` and what that level has available, in seconds."""
    oc = run.overcommit[pool]
    chair = PROJECTS[project]
    sibling = {"p1": "p1b", "p1b": "p1"}.get(project)
    where = {"pool_id": pool, "period": period}
    if level == "pool":
        available = book.pool_headroom(pool, period, oc)
        return "/allocations/chairs", {**where, "chair_id": chair}, available
    if level == "chair" or sibling is None:  # p2 has no sibling to transfer to
        available = book.chair_headroom(pool, period, chair, oc)
        return "/allocations/projects", {**where, "project_id": project}, available
    available = book.held(pool, period, f"project:{project}")
    return "/transfers", {**where, "from_project": project, "to_project": sibling}, available


def decide(
    run: Run,
    book: Book,
    rid: int,
    submit: Submit,
    action: str,
    quarters: tuple[int, ...] | None,
) -> tuple[Any, int]:
    state = run.states[rid]
    if action in ("reject", "withdraw"):
        r = run.post(f"/requests/{rid}/{action}", {"reason": "decided"})
        expected = 200 if state == "submitted" else 409
        if expected == 200:
            run.states[rid] = "rejected" if action == "reject" else "withdrawn"
        return r, expected
    if quarters is None:
        grant = dict(submit.lines)
        body: dict[str, Any] = {}
    else:
        grant = {p: q * k // 4 for (p, q), k in zip(submit.lines, quarters, strict=False)}
        body = {"granted": [{"period": p, "hours": hours(q)} for p, q in grant.items()]}
    r = run.post(f"/requests/{rid}/approve", body)
    oc = run.overcommit[submit.pool]
    if state != "submitted":
        return r, 409
    if sum(grant.values()) == 0:
        return r, 422
    if not all(
        book.can_allocate(submit.pool, p, submit.project, q * 900, oc)
        for p, q in grant.items()
        if q
    ):
        return r, 409
    full = all(grant[p] == q for p, q in submit.lines)
    run.states[rid] = "approved" if full else "partially_approved"
    run.granted[rid] = {p: q * 900 for p, q in grant.items()}
    return r, 200


# --- checks -----------------------------------------------------------------------------------


def check_invariants(run: Run) -> None:
    book = run.book()
    for e in book.entries:
        assert type(e.amount) is int and e.amount > 0, e
    for pool in POOLS:
        oc = run.overcommit[pool]
        for period in PERIODS:
            capacity = book.capacity(pool, period)
            given = book.given(pool, period, f"pool:{pool}")
            if not book.moves[(pool, period)]:
                continue
            assert given <= capacity + stretch(capacity, oc), (pool, period, given, capacity)
            for chair in CHAIRS:
                acct = f"chair:{chair}"
                received = book.received(pool, period, acct)
                assert book.given(pool, period, acct) <= received + stretch(received, oc), (
                    pool,
                    period,
                    chair,
                )


def check_balances_against_the_journal(run: Run) -> None:
    book = run.book()
    for e in book.entries:
        assert e.id is not None
    journal = sorted(run.items("/journal"), key=lambda j: j["id"])  # the API lists newest first
    assert [(j["id"], j["amount_seconds"]) for j in journal] == [
        (e.id, e.amount) for e in book.entries
    ]
    for period in PERIODS:
        rows = run.items(f"/balances?period={period}")
        got = {
            (row["pool_id"], row["project_id"]): (
                row["allocated_seconds"],
                row["adjustments_seconds"],
                row["remaining_seconds"],
            )
            for row in rows
        }
        assert len(got) == len(rows)
        expected = {}
        for pool in POOLS:
            flows = flows_of(e for e in book.moves[(pool, period)])
            for project in PROJECTS:
                allocated = book.project_allocated(pool, period, project)
                held = book.held(pool, period, f"project:{project}")
                library = project_balance(flows, project, pool, period)
                assert (library.allocated, library.available) == (allocated, held)
                if allocated or held - allocated:
                    expected[(pool, project)] = (allocated, held - allocated, held)
        assert got == expected, period

        for pool in POOLS:
            flows = flows_of(book.moves[(pool, period)])
            acct = f"pool:{pool}"
            deposited = bool(book.moves[(pool, period)])
            capacity = book.capacity(pool, period) if deposited else 0
            given = book.given(pool, period, acct)
            mine = (capacity, given, book.held(pool, period, acct))
            lib = pool_balance(flows, pool, period)
            assert (lib.capacity, lib.allocated, lib.unallocated) == mine
            b = run.get(f"/pools/{pool}/balances?period={period}")
            api = (b["capacity_seconds"], b["allocated_seconds"], b["unallocated_seconds"])
            assert api == mine, (pool, period)

            for chair in CHAIRS:
                acct = f"chair:{chair}"
                mine = (
                    book.received(pool, period, acct),
                    book.given(pool, period, acct),
                    book.held(pool, period, acct),
                )
                lib_c = chair_balance(flows, chair, pool, period)
                assert (lib_c.received, lib_c.allocated_to_projects, lib_c.unallocated) == mine
                (c,) = run.items(f"/chairs/{chair}/balances?pool_id={pool}&period={period}")
                api = (
                    c["received_seconds"],
                    c["allocated_to_projects_seconds"],
                    c["unallocated_seconds"],
                )
                assert api == mine, (pool, period, chair)


def check_requests(run: Run) -> None:
    book = run.book()
    listed = {r["id"]: r for r in run.items("/requests")}
    assert set(listed) == set(run.states)
    for rid, state in run.states.items():
        assert listed[rid]["state"] == state, rid
        granted = {ln["period"]: ln["granted_seconds"] for ln in listed[rid]["lines"]}
        expected = run.granted.get(rid, {})
        assert {p: s for p, s in granted.items() if s} == {p: s for p, s in expected.items() if s}
        project = f"project:{listed[rid]['project_id']}"
        into_project: dict[str, int] = defaultdict(int)
        for e in book.entries:
            if e.request_id == rid and e.target == project:
                into_project[e.period] += e.amount
        assert dict(into_project) == {p: s for p, s in expected.items() if s}, rid


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    nat_overcommit=st.sampled_from([1000, 1250]),
    ops=st.lists(operations, min_size=5, max_size=15),
)
def test_random_operations_keep_the_api_balances_equal_to_the_journal(
    client: TestClient, services: Services, nat_overcommit: int, ops: list[Any]
) -> None:
    run = start(client, services, nat_overcommit)
    for op in ops:
        step(run, op)
    check_balances_against_the_journal(run)
    check_requests(run)
