"""Weighted max-min fair division of an integer supply, exactly (no floats).

:func:`fill` divides ``supply`` units among claimants, each with a weight ``w``, a floor ``F``
(given first) and a cap ``D`` (never exceeded). Its result is what this greedy would give,
without running it unit by unit: hand the units out one at a time, each to the claimant below
its cap whose *level* ``x / w`` is the lowest, ties to the earlier claimant in the given order.
Written as a rule on levels, the ``k``-th unit of a claimant (``k`` from 0) is handed out at
level ``k / w``; the result is the first ``supply`` units in the order (level, claimant order).

How it is computed: the continuous water level ``λ`` with ``Σ clamp(w·λ, F, D) = supply``
(a sweep over the breakpoints ``F/w`` and ``D/w``, in :class:`~fractions.Fraction`); every unit
below ``λ`` (``clamp(ceil(w·λ), F, D)`` per claimant) is one too many by fewer units than there
are claimants; those excess units, the last ones in the order, are taken back with a heap.
O(n log n) for n claimants, whatever the supply.

Why it is fair: a claimant ``a`` above its floor got its last unit at level ``(x_a - 1) / w_a``,
which is at most the level ``θ`` of the last unit handed out; a claimant ``b`` below its cap
got every unit below ``θ``, so ``x_b / w_b >= θ``. Hence ``(x_a - 1) / w_a <= x_b / w_b``:
moving one unit from ``a`` to ``b`` would leave ``a`` at or below ``b``'s level, never raise the
lowest level. That is the integer form of weighted max-min fairness.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimant: its ``weight`` (> 0), ``floor`` given first, ``cap`` never exceeded."""

    weight: Fraction
    cap: int
    floor: int = 0


def fill(supply: int, claims: Sequence[Claim]) -> list[int]:
    """Each claim's amount, in the order of ``claims``: the floors first (they must fit in
    ``supply``), then the rest by weighted max-min up to the caps; the sum is
    ``min(supply, Σ caps)``."""
    if supply >= sum(c.cap for c in claims):
        return [c.cap for c in claims]
    level = water_level(supply, claims)
    amounts = [_clamp(math.ceil(c.weight * level), c) for c in claims]
    _take_back(amounts, claims, sum(amounts) - supply)
    return amounts


def level_of(amount: int, weight: Fraction) -> Fraction:
    return Fraction(amount) / weight


def water_level(supply: int, claims: Sequence[Claim]) -> Fraction:
    """The level ``λ`` where ``Σ clamp(w·λ, floor, cap)`` reaches ``supply`` (the floors fit,
    the caps do not all)."""
    events: list[tuple[Fraction, int, int]] = []  # (level, +1 starts rising / -1 stops, index)
    for i, c in enumerate(claims):
        if c.cap > c.floor:
            events.append((level_of(c.floor, c.weight), 1, i))
            events.append((level_of(c.cap, c.weight), -1, i))
    events.sort()
    total = Fraction(sum(c.floor for c in claims))  # the sum at the current level
    slope, here = Fraction(0), Fraction(0)
    for at, change, i in events:
        reached = total + slope * (at - here)
        if reached >= supply and slope > 0:
            return here + (supply - total) / slope
        total, here = reached, at
        slope += change * claims[i].weight
    raise AssertionError("water_level: the caps do not exceed the supply")  # pragma: no cover


def _clamp(amount: int, claim: Claim) -> int:
    return min(max(amount, claim.floor), claim.cap)


def _take_back(amounts: list[int], claims: Sequence[Claim], excess: int) -> None:
    """Take back ``excess`` units, the last ones in the order (level, claimant order)."""
    # A max-heap on (level of the claimant's last unit, index): negate both.
    heap = [
        (-level_of(amounts[i] - 1, c.weight), -i)
        for i, c in enumerate(claims)
        if amounts[i] > c.floor
    ]
    heapq.heapify(heap)
    for _ in range(excess):
        _, negative_index = heapq.heappop(heap)
        i = -negative_index
        amounts[i] -= 1
        if amounts[i] > claims[i].floor:
            heapq.heappush(heap, (-level_of(amounts[i] - 1, claims[i].weight), -i))
