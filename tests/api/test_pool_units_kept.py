"""Every amount says its unit; the units are read once per process, and a pool created since
(here by another replica) is read on its first mention: never an answer without its unit."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from allocator import services as svc
from allocator.model import ClusterRoute
from connectors.bootstrap import Services, build
from connectors.http.app import create_app
from connectors.pool_units import PoolUnits
from connectors.settings import Settings
from tests.api.conftest import auth
from tests.builders import ADMIN, CAL, H, World, national_pool
from tests.conftest import FixedClock


class CountedReads:
    """Every pool's unit, counting the reads."""

    def __init__(self, units: dict[str, str]) -> None:
        self.units = units
        self.reads = 0

    def __call__(self) -> Mapping[str, str]:
        self.reads += 1
        return dict(self.units)


def test_a_known_pools_unit_is_answered_without_a_read() -> None:
    reads = CountedReads({"nat": "normalised-gpu-hour", "loc": "gpu-hour"})
    units = PoolUnits(reads)
    assert units["nat"] == "normalised-gpu-hour"
    assert units["loc"] == "gpu-hour"
    assert units.get("nat", "") == "normalised-gpu-hour"
    assert reads.reads == 1


def test_a_pool_created_since_is_read_on_its_first_mention() -> None:
    reads = CountedReads({"nat": "normalised-gpu-hour"})
    units = PoolUnits(reads)
    assert units["nat"] == "normalised-gpu-hour"
    reads.units["gpu-a"] = "gpu-hour"
    assert units["gpu-a"] == "gpu-hour"
    assert reads.reads == 2
    assert dict(units) == {"nat": "normalised-gpu-hour", "gpu-a": "gpu-hour"}


def test_an_unknown_pool_has_no_unit() -> None:
    units = PoolUnits(CountedReads({"nat": "normalised-gpu-hour"}))
    assert units.get("nope", "") == ""
    with pytest.raises(KeyError):
        units["nope"]


def test_a_replica_answers_the_unit_of_a_pool_another_replica_created(
    engine: Engine, services: Services, world: World, clock: FixedClock
) -> None:
    other = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    with TestClient(create_app(services=services)) as client:
        first = client.get("/api/v1/pools/nat/balances?period=2026Q4", headers=auth(world, "admin"))
        assert first.status_code == 200, first.text
        assert first.json()["unit"] == "normalised-gpu-hour"
        new = national_pool(
            id="nat-2", name="second grant", unit="gpu-hour", routes=(ClusterRoute("other", ""),)
        )
        svc.create_pool(other.uow(), ADMIN, clock(), new)
        svc.add_grant(other.uow(), ADMIN, clock(), "nat-2", 100 * H, "grant", calendar=CAL)
        second = client.get(
            "/api/v1/pools/nat-2/balances?period=2026Q4", headers=auth(world, "admin")
        )
        assert second.status_code == 200, second.text
        assert second.json()["unit"] == "gpu-hour"
