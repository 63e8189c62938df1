"""Properties of a round's proposal, over random rounds: caps, minimums, supply, fairness,
determinism."""

from __future__ import annotations

import random
from dataclasses import replace
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.rounds import RoundInput, RoundRequest, Supply, propose
from tests.unit.rounds.fairness_check import violations

RESOURCES = [("jz", "a100"), ("jz", "h100"), ("local", "")]
CHAIRS = ["chair-a", "chair-b", "chair-c", "chair-d"]


@st.composite
def requests(draw: st.DrawFn) -> RoundRequest:
    pool, gpu_type = draw(st.sampled_from(RESOURCES))
    chair = draw(st.sampled_from(CHAIRS))
    project = f"{chair}-p{draw(st.integers(0, 2))}"
    amount = draw(st.integers(0, 50_000))
    minimum = draw(st.one_of(st.just(0), st.integers(0, amount)))
    return RoundRequest(0, chair, project, pool, gpu_type, amount, minimum, "thesis")


@st.composite
def rounds(draw: st.DrawFn) -> RoundInput:
    drawn = draw(st.lists(requests(), max_size=24))
    numbered = tuple(replace(r, id=i + 1) for i, r in enumerate(drawn))
    supply = tuple(
        Supply(pool, gpu_type, draw(st.integers(0, 150_000))) for pool, gpu_type in RESOURCES
    )
    weight = st.one_of(st.integers(1, 4), st.fractions(min_value=Fraction(1, 3), max_value=3))
    weights = tuple((c, draw(weight)) for c in CHAIRS if draw(st.booleans()))
    return RoundInput(supply, numbered, weights)


class TestProposalProperties:
    @settings(max_examples=150, deadline=None)
    @given(rounds())
    def test_no_line_above_its_request_nor_below_its_minimum_nor_beyond_supply_and_fair(
        self, round_input: RoundInput
    ) -> None:
        """Each line is at most what was asked and at least its minimum when the minimums fit;
        each pool's GPU type gives at most its supply; no line could take a unit-second from a
        line whose weighted level would stay above its own."""
        lines = propose(round_input)
        assert [line.request_id for line in lines] == sorted(r.id for r in round_input.requests)
        assert violations(round_input, lines) == []

    @settings(max_examples=60, deadline=None)
    @given(rounds(), st.randoms(use_true_random=False))
    def test_the_same_round_in_any_order_gives_the_same_proposal(
        self, round_input: RoundInput, rng: random.Random
    ) -> None:
        """The proposal depends on the round, not on the order its requests, supply and weights
        were read in."""
        shuffled = RoundInput(
            tuple(rng.sample(round_input.supply, len(round_input.supply))),
            tuple(rng.sample(round_input.requests, len(round_input.requests))),
            tuple(rng.sample(round_input.weights, len(round_input.weights))),
        )
        assert propose(shuffled) == propose(round_input)
        assert propose(round_input) == propose(round_input)

    @settings(max_examples=60, deadline=None)
    @given(rounds())
    def test_with_enough_supply_everyone_gets_what_they_asked(
        self, round_input: RoundInput
    ) -> None:
        """A pool holding at least what is asked of each GPU type gives every request in full."""
        asked = {
            (pool, gpu_type): sum(
                r.amount
                for r in round_input.requests
                if (r.pool_id, r.gpu_type) == (pool, gpu_type)
            )
            for pool, gpu_type in RESOURCES
        }
        plenty = tuple(Supply(p, g, amount + 7) for (p, g), amount in asked.items())
        lines = propose(replace(round_input, supply=plenty))
        asked_by_id = {r.id: r.amount for r in round_input.requests}
        assert {line.request_id: line.amount for line in lines} == asked_by_id
        assert all(line.explanation.startswith("capped at request") for line in lines)


class TestPoolCapProperties:
    @settings(max_examples=100, deadline=None)
    @given(rounds(), st.integers(0, 200_000))
    def test_a_pools_overall_cap_holds_over_its_gpu_types_and_only_lowers_lines(
        self, round_input: RoundInput, cap: int
    ) -> None:
        """jz capped over its a100 and h100: its lines add up to at most the cap, each GPU type
        to at most its supply, and no line gets more than it would without the cap; the other
        pools are untouched."""
        capped = replace(round_input, pool_caps=(("jz", cap),))
        free = {line.request_id: line for line in propose(round_input)}
        lines = {line.request_id: line for line in propose(capped)}
        pools = {r.id: (r.pool_id, r.gpu_type) for r in round_input.requests}
        supply = {(s.pool_id, s.gpu_type): s.amount for s in round_input.supply}
        assert sum(x.amount for i, x in lines.items() if pools[i][0] == "jz") <= cap
        for resource, amount in supply.items():
            assert sum(x.amount for i, x in lines.items() if pools[i] == resource) <= amount
        for i, line in lines.items():
            assert line.amount <= free[i].amount
            if pools[i][0] != "jz":
                assert line == free[i]
        assert propose(capped) == propose(capped)
