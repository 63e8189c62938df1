"""Each pool's unit, kept by the process: every amount in an answer says its unit.

A pool's unit is fixed when the pool is created and pools are never deleted, so a unit once
read cannot go stale. The map is read whole on first use and read again only when asked for
a pool it has not seen (one created since, perhaps by another replica). A balance read then
costs no connection, no ping and no query for the units (a third of a ``GET /balances`` on
PostgreSQL before: ``tests/bench/bench_balances``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping


class PoolUnits(Mapping[str, str]):
    """Pool id -> unit, read through ``load`` (every pool's unit, one read) on a miss."""

    def __init__(self, load: Callable[[], Mapping[str, str]]) -> None:
        self._load = load
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def __getitem__(self, pool_id: str) -> str:
        known = self._known.get(pool_id)
        if known is not None:
            return known
        self._refresh()
        return self._known[pool_id]  # KeyError: no such pool (``.get`` answers the default)

    def __iter__(self) -> Iterator[str]:
        self._refresh()
        return iter(dict(self._known))

    def __len__(self) -> int:
        self._refresh()
        return len(self._known)

    def _refresh(self) -> None:
        with self._lock:
            # a new dict, swapped in whole: readers without the lock never see half of one
            self._known = {**self._known, **self._load()}
