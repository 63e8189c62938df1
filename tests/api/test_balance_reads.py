"""``GET /balances`` reads its inputs in one statement (``connectors.db.balance_reads``) and
writes its body without a model per row: the same balances, the same bytes, as the four reads
in a transaction and the response model give."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from allocator import services as svc
from allocator.errors import NotFound
from allocator.ledger import ProjectBalance
from allocator.model import Role, User
from allocator.periods import period_containing
from connectors.auth import mint_token
from connectors.bootstrap import Services
from connectors.demo import seed, seed_usage
from connectors.http.pages import Page
from connectors.http.schemas import ProjectBalanceOut

ADMIN = User("admin", Role.ADMIN)
NOBODY = User("nobody", Role.RESEARCHER)
#: The demo organisation's callers: staff, researchers (PIs, members), one with no project.
CALLERS = [
    ADMIN,
    User("eng-marie", Role.ENGINEER),
    User("alice", Role.RESEARCHER),
    User("carol", Role.RESEARCHER),
    User("pi-durand", Role.RESEARCHER),
    NOBODY,
]


@pytest.fixture
def demo(services: Services) -> str:
    """The demo organisation with its usage; the current period."""
    now = services.clock()
    seed(services.uow(), now, services.settings.calendar)
    seed_usage(services.usage_store(), now, services.settings.calendar)
    return period_containing(now, services.settings.period_scheme).label


Read = Callable[..., list[ProjectBalance]]


def four_reads(
    services: Services,
    actor: User,
    period: str,
    pools: list[str] | None,
    after: tuple[str, str] | None = None,
    first: int | None = None,
) -> list[ProjectBalance]:
    """As read before: projects, pools, flows and consumption, each in turn, in a transaction."""
    uow = services.uow(read_only=True)
    with uow:
        reads = svc.reads_in(uow, services.consumption.within(uow))
        return svc.visible_balances(
            reads,
            actor,
            period,
            pools,
            True,
            now=services.clock(),
            calendar=services.settings.calendar,
            after=after,
            first=first,
        )


def one_statement(
    services: Services,
    actor: User,
    period: str,
    pools: list[str] | None,
    after: tuple[str, str] | None = None,
    first: int | None = None,
) -> list[ProjectBalance]:
    return svc.visible_balances(
        services.balance_reads,
        actor,
        period,
        pools,
        True,
        now=services.clock(),
        calendar=services.settings.calendar,
        after=after,
        first=first,
    )


def test_one_statement_gives_the_balances_of_the_four_reads(services: Services, demo: str) -> None:
    with services.uow() as uow:
        pools = list(uow.pools.ids())
    consumed = 0
    for actor in CALLERS:
        for asked in (None, *([p] for p in pools)):
            rows = one_statement(services, actor, demo, asked)
            assert rows == four_reads(services, actor, demo, asked), (actor.username, asked)
            consumed += sum(b.consumed + b.consumed_provisional for b in rows)
    assert consumed > 0  # the demo's usage is in the figures compared
    assert one_statement(services, ADMIN, demo, None)
    assert one_statement(services, NOBODY, demo, None) == []


@pytest.mark.parametrize("read", [one_statement, four_reads])
def test_a_window_of_the_balances_is_the_list_after_its_key(
    services: Services, demo: str, read: Read
) -> None:
    """Built from the cursor's pool on (the pools before it not read): the same rows as the
    whole list cut after the key, for every key of the list and keys between them."""
    whole = one_statement(services, ADMIN, demo, None)
    keys = [(b.pool_id, b.project_id) for b in whole]
    between = [(pool, project + "~") for pool, project in keys] + [("", ""), ("zzz", "")]
    for key in keys + between:
        after = [b for b in whole if (b.pool_id, b.project_id) > key]
        for first in (1, 3, None):
            window = read(services, ADMIN, demo, None, key, first)
            assert window == after[:first], (key, first)


@pytest.mark.parametrize("read", [one_statement, four_reads])
def test_an_unknown_pool_is_not_found(services: Services, demo: str, read: Read) -> None:
    with pytest.raises(NotFound) as err:
        read(services, ADMIN, demo, ["no-such-pool"])
    assert err.value.field == "pool_id"


def test_the_body_is_what_the_response_model_writes(
    client: TestClient, services: Services, demo: str
) -> None:
    model = TypeAdapter(Page[ProjectBalanceOut])
    for username in ("admin", "alice"):
        token = mint_token(services.session_factory, username, services.clock())
        for query in ("", "&include_empty=true", "&pool_id=ai2f-jz"):
            response = client.get(
                f"/api/v1/balances?period={demo}{query}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/json"
            page = model.validate_json(response.content)
            assert page.items, (username, query)
            assert response.content == model.dump_json(page), (username, query)
