from __future__ import annotations

import pytest

from tests.builders import World
from tests.fakes_accounting import FakeAccountingUnitOfWork
from tests.unit.accounting.services.quarter_world import quarter_world


@pytest.fixture
def quarter() -> tuple[FakeAccountingUnitOfWork, World]:
    return quarter_world()


@pytest.fixture
def uow(quarter: tuple[FakeAccountingUnitOfWork, World]) -> FakeAccountingUnitOfWork:
    return quarter[0]
