"""The fair division of one supply (``allocator.fairness.fill``) is the unit-by-unit greedy it
describes, computed without handing units out one at a time."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.fairness import Claim, fill


def greedy(supply: int, claims: list[Claim]) -> list[int]:
    """The floors, then each unit to the lowest level ``x / w`` below its cap, ties to the
    earlier claimant: the definition, one unit at a time."""
    amounts = [c.floor for c in claims]
    for _ in range(supply - sum(amounts)):
        open_ = [i for i, c in enumerate(claims) if amounts[i] < c.cap]
        if not open_:
            break
        lowest = min(open_, key=lambda i: (Fraction(amounts[i]) / claims[i].weight, i))
        amounts[lowest] += 1
    return amounts


@st.composite
def divisions(draw: st.DrawFn) -> tuple[int, list[Claim]]:
    claims = []
    for _ in range(draw(st.integers(0, 6))):
        cap = draw(st.integers(0, 60))
        weight = draw(st.fractions(min_value=Fraction(1, 5), max_value=7, max_denominator=6))
        claims.append(Claim(weight, cap, draw(st.integers(0, cap))))
    floors = sum(c.floor for c in claims)
    return floors + draw(st.integers(0, 150)), claims


@settings(max_examples=200, deadline=None)
@given(divisions())
def test_the_fair_division_is_the_greedy_that_raises_the_lowest_level_first(
    division: tuple[int, list[Claim]],
) -> None:
    supply, claims = division
    assert fill(supply, claims) == greedy(supply, claims)


def test_the_example_where_rounding_each_share_down_would_be_unfair() -> None:
    """Ten claimants of weight 1 at 0.9 and one of weight 10 at 9 share 18 units: rounding
    down then topping up in order would leave one weight-1 claimant at 0 while the heavy one
    keeps 9 (level 0.9); the fair division gives it 8 (level 0.8) and every other one 1."""
    claims = [Claim(Fraction(1), 100)] * 10 + [Claim(Fraction(10), 100)]
    assert fill(18, claims) == [1] * 10 + [8]
