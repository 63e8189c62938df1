"""Twenty concurrent retries of one allocation, all with the same ``Idempotency-Key``, through a
real HTTP server: one journal entry and twenty identical answers (PostgreSQL, where replicas
share the key through an advisory lock; and SQLite)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from connectors.bootstrap import Services, build
from connectors.settings import Settings
from tests.api.conftest import auth
from tests.api.test_concurrent_reads import live_server
from tests.api.test_idempotency import ALLOCATE, BODY, journal
from tests.builders import World

RETRIES = 20


def test_twenty_concurrent_retries_with_one_key_write_once_and_answer_alike(
    services: Services, world: World
) -> None:
    start = threading.Barrier(RETRIES)
    headers = {**auth(world, "admin"), "Idempotency-Key": "allocation-q4-chair-a"}

    def retry(_n: int) -> httpx.Response:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
            start.wait()
            return http.post(ALLOCATE, json=BODY)

    before = journal(services)
    with live_server(services) as base, ThreadPoolExecutor(RETRIES) as pool:
        answers = list(pool.map(retry, range(RETRIES)))

    assert journal(services) == before + 1
    assert {(a.status_code, a.content) for a in answers} == {(201, answers[0].content)}
    replayed = sorted(a.headers.get("idempotent-replayed", "") for a in answers)
    assert replayed == [""] + ["true"] * (RETRIES - 1)


def test_two_replicas_share_the_keys(services: Services, world: World) -> None:
    """Ten retries on each of two replicas (two apps, two engines, one database): still one
    entry and one answer. On SQLite the two engines stand for two processes: nothing but the
    claim's primary key stops the second writer."""
    other = build(Settings(database_url=services.settings.database_url))
    other.clock = services.clock
    start = threading.Barrier(RETRIES)
    headers = {**auth(world, "admin"), "Idempotency-Key": "allocation-two-replicas"}

    def retry(n: int) -> httpx.Response:
        with httpx.Client(base_url=bases[n % 2], headers=headers, timeout=120) as http:
            start.wait()
            return http.post(ALLOCATE, json=BODY)

    before = journal(services)
    try:
        with live_server(services) as one, live_server(other) as two:
            bases = (one, two)
            for base in bases:  # both replicas up and answering before the race
                assert httpx.get(f"{base}/api/v1/pools", headers=auth(world, "admin")).is_success
            with ThreadPoolExecutor(RETRIES) as pool:
                answers = list(pool.map(retry, range(RETRIES)))
    finally:
        other.engine.dispose()

    assert journal(services) == before + 1
    assert {(a.status_code, a.content) for a in answers} == {(201, answers[0].content)}
