"""The claim of an ``Idempotency-Key`` commits with the write it guards (SQLite, PostgreSQL).

With no lock at all (two processes on one SQLite file, or a lock lost), the second request
with a key cannot write: its claim fails on the key's primary key and its whole transaction,
ledger entry included, rolls back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from allocator import services as svc
from connectors.bootstrap import Services, build
from connectors.db import idempotency as keys
from connectors.db.idempotency import Answer, Claim
from connectors.settings import Settings
from tests.builders import ADMIN, CAL, H, seed_world
from tests.conftest import NOW


@pytest.fixture
def services(engine: Engine) -> Services:
    sv = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    keys.claim_in_transactions(sv.session_factory)
    seed_world(sv.uow(), NOW)
    return sv


def entries(services: Services) -> int:
    with services.uow() as uow:
        return len(uow.ledger.entries())


def allocate_with(services: Services, claim: Claim) -> None:
    token = keys.CLAIM.set(claim)
    try:
        svc.allocate_to_chair(
            services.uow(), ADMIN, NOW, "nat", "chair-a", "2026Q4", H, "claim", calendar=CAL
        )
    finally:
        keys.CLAIM.reset(token)


def test_the_second_write_under_one_key_rolls_back_whole(services: Services) -> None:
    before = entries(services)
    first = Claim("admin", "k1", "fp", NOW)
    allocate_with(services, first)
    assert first.committed and not first.lost
    second = Claim("admin", "k1", "fp", NOW)
    with pytest.raises(IntegrityError):
        allocate_with(services, second)
    assert second.lost and not second.committed
    assert entries(services) == before + 1
    found = keys.find(services.reader, services.engine, "admin", "k1", NOW)
    assert found is not None and found.lost  # applied, answer not stored yet


def test_another_users_key_is_another_claim(services: Services) -> None:
    before = entries(services)
    allocate_with(services, Claim("admin", "k2", "fp", NOW))
    allocate_with(services, Claim("eng", "k2", "fp", NOW))
    assert entries(services) == before + 2


def test_the_answer_is_stored_on_the_claim_and_expires_after_24_hours(
    services: Services,
) -> None:
    claim = Claim("admin", "k3", "fp", NOW)
    allocate_with(services, claim)
    answer = Answer(201, [("content-type", "application/json")], b'{"id": 1}')
    keys.store(services.engine, claim, answer, NOW)
    found = keys.find(services.reader, services.engine, "admin", "k3", NOW + timedelta(hours=23))
    assert found is not None and found.answer == answer and found.fingerprint == "fp"
    later = NOW + timedelta(hours=24, seconds=1)
    assert keys.find(services.reader, services.engine, "admin", "k3", later) is None
    assert keys.find(services.reader, services.engine, "admin", "k3", NOW) is None  # deleted


def test_purge_deletes_only_the_keys_older_than_24_hours(services: Services) -> None:
    answer = Answer(200, [], b"")
    for n, age in enumerate((25, 23, 1)):
        keys.store(services.engine, Claim("admin", f"p{n}", "fp", NOW - timedelta(hours=age)),
                   answer, NOW - timedelta(days=30))  # fmt: skip
    assert keys.purge(services.engine, NOW) == 1
    assert keys.purge(services.engine, NOW) == 0
