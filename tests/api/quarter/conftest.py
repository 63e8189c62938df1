"""The rig of the quarter's API tests."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from connectors.bootstrap import Services
from tests.builders import World
from tests.conftest import FixedClock
from tests.quarter_support import (
    recorded_jobs,
    seed_rig,
    store,
)


@pytest.fixture
def rig(services: Services, world: World, clock: FixedClock, engine: Engine) -> World:
    """The world, plus the rig pool, its three projects and the recorded hour-07 jobs."""
    seed_rig(services.uow(), clock())
    store(engine, recorded_jobs(), clock())
    return world
