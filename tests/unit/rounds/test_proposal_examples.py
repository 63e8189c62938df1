"""Worked examples of a round's proposal, in the administrators' words."""

from __future__ import annotations

from fractions import Fraction

import pytest

from allocator.errors import InvalidInput
from allocator.model import SECONDS_PER_HOUR as H
from allocator.rounds import Basis, RoundInput, RoundRequest, Supply, demand, hours, propose


def lines_of(round_input: RoundInput) -> dict[int, tuple[int, Basis, str]]:
    return {
        line.request_id: (line.amount, line.basis, line.explanation)
        for line in propose(round_input)
    }


class TestOversubscribedPool:
    """10 000 h of a100 in jz, 14 000 h asked (40 % over) by three chairs weighing 1, 1 and 2."""

    ROUND = RoundInput(
        supply=(Supply("jz", "a100", 10_000 * H),),
        requests=(
            RoundRequest(1, "chair-robotics", "rob-1", "jz", "a100", 1_000 * H),
            RoundRequest(2, "chair-vision", "vis-1", "jz", "a100", 5_000 * H),
            RoundRequest(3, "chair-nlp", "nlp-1", "jz", "a100", 5_000 * H),
            RoundRequest(4, "chair-nlp", "nlp-2", "jz", "a100", 3_000 * H),
        ),
        weights=(("chair-robotics", 1), ("chair-vision", 1), ("chair-nlp", 2)),
    )

    def test_the_small_chair_is_capped_and_the_rest_goes_one_to_two(self) -> None:
        """chair-robotics gets its 1 000 h; the 9 000 h left go 3 000 h to chair-vision and
        6 000 h to chair-nlp (weight 2), whose two projects split them equally."""
        assert lines_of(self.ROUND) == {
            1: (1_000 * H, Basis.REQUEST, "capped at request (1 000 h asked)"),
            2: (
                3_000 * H,
                Basis.SHARE,
                "share of chair-vision's 3 000 h of a100 in pool jz at weight 1",
            ),
            3: (
                3_000 * H,
                Basis.SHARE,
                "share of chair-nlp's 6 000 h of a100 in pool jz at weight 2, split equally"
                " among its 2 projects up to their requests",
            ),
            4: (3_000 * H, Basis.REQUEST, "capped at request (3 000 h asked)"),
        }

    def test_unit_seconds_that_do_not_divide_go_to_the_first_chair_by_id(self) -> None:
        """10 unit-seconds over three equal chairs: 4, 3, 3, the extra one to chair-a."""
        round_input = RoundInput(
            (Supply("jz", "a100", 10),),
            tuple(RoundRequest(i, c, c, "jz", "a100", 10) for i, c in
                  ((1, "chair-c"), (2, "chair-a"), (3, "chair-b"))),
        )  # fmt: skip
        assert {i: amount for i, (amount, _b, _t) in lines_of(round_input).items()} == {
            1: 3,
            2: 4,
            3: 3,
        }

    def test_fraction_weights_divide_exactly(self) -> None:
        """Weights 1/3 and 2/3 divide 900 h as 300 h and 600 h."""
        round_input = RoundInput(
            (Supply("jz", "", 900 * H),),
            (
                RoundRequest(1, "chair-a", "a", "jz", "", 900 * H),
                RoundRequest(2, "chair-b", "b", "jz", "", 900 * H),
            ),
            (("chair-a", Fraction(1, 3)), ("chair-b", Fraction(2, 3))),
        )
        lines = lines_of(round_input)
        assert (lines[1][0], lines[2][0]) == (300 * H, 600 * H)
        assert lines[1][2] == "share of chair-a's 300 h in pool jz at weight 1/3"


class TestThesisMinimum:
    def test_a_thesis_keeps_its_minimum_above_its_equal_share(self) -> None:
        """chair-a's 500 h would split 250 h / 250 h; its thesis is guaranteed 450 h, so its
        other project gets the 50 h left."""
        round_input = RoundInput(
            (Supply("jz", "a100", 1_000 * H),),
            (
                RoundRequest(1, "chair-a", "thesis-ana", "jz", "a100", 600 * H, 450 * H, "thesis"),
                RoundRequest(2, "chair-a", "rnd-a", "jz", "a100", 600 * H),
                RoundRequest(3, "chair-b", "rnd-b", "jz", "a100", 1_000 * H),
            ),
        )
        assert lines_of(round_input) == {
            1: (450 * H, Basis.MINIMUM, "minimum for thesis: 450 h guaranteed of 600 h asked"),
            2: (
                50 * H,
                Basis.SHARE,
                "share of chair-a's 500 h of a100 in pool jz at weight 1, split equally among"
                " its 2 projects up to their requests",
            ),
            3: (500 * H, Basis.SHARE, "share of chair-b's 500 h of a100 in pool jz at weight 1"),
        }

    def test_minimums_that_do_not_fit_share_the_supply_and_leave_nothing_to_others(self) -> None:
        """Two theses guaranteed 200 h each of a 300 h supply: 150 h each, by the same fair
        rule over the minimums alone; the request without a minimum gets nothing."""
        round_input = RoundInput(
            (Supply("jz", "a100", 300 * H),),
            (
                RoundRequest(1, "chair-a", "thesis-1", "jz", "a100", 400 * H, 200 * H, "thesis"),
                RoundRequest(2, "chair-b", "thesis-2", "jz", "a100", 400 * H, 200 * H, "thesis"),
                RoundRequest(3, "chair-b", "rnd-b", "jz", "a100", 500 * H),
            ),
        )
        why = (
            "the minimums asked of a100 in pool jz (400 h) exceed its supply (300 h), shared"
            " fairly among the minimums alone"
        )
        assert lines_of(round_input) == {
            1: (150 * H, Basis.MINIMUMS_CUT, f"minimum for thesis cut to 150 h of 200 h: {why}"),
            2: (150 * H, Basis.MINIMUMS_CUT, f"minimum for thesis cut to 150 h of 200 h: {why}"),
            3: (0, Basis.MINIMUMS_CUT, f"nothing: {why}"),
        }


class TestGpuTypeSupply:
    def test_a_request_for_h100_takes_only_from_the_pools_h100_hours(self) -> None:
        """jz holds 2 000 h of a100 and 500 h of h100: a 1 500 h h100 request gets the 500 h
        of h100, though a100 hours are left."""
        round_input = RoundInput(
            (Supply("jz", "a100", 2_000 * H), Supply("jz", "h100", 500 * H)),
            (
                RoundRequest(1, "chair-a", "a", "jz", "a100", 1_000 * H),
                RoundRequest(2, "chair-a", "a", "jz", "h100", 1_500 * H),
            ),
        )
        assert lines_of(round_input) == {
            1: (1_000 * H, Basis.REQUEST, "capped at request (1 000 h asked)"),
            2: (
                500 * H,
                Basis.SUPPLY,
                "capped by the supply of h100 in pool jz (500 h): 500 h left for it, of"
                " 1 500 h asked",
            ),
        }

    def test_a_gpu_type_the_pool_does_not_hold_gives_nothing(self) -> None:
        round_input = RoundInput(
            (Supply("jz", "a100", 2_000 * H),),
            (RoundRequest(1, "chair-a", "a", "jz", "mi250", 100 * H),),
        )
        assert lines_of(round_input) == {
            1: (0, Basis.NO_SUPPLY, "nothing: the round holds no mi250 hours in pool jz")
        }


class TestBadRounds:
    @pytest.mark.parametrize(
        ("round_input", "field"),
        [
            (RoundInput((), (RoundRequest(1, "c", "p", "jz", "", 10, 11),)), "minimum"),
            (RoundInput((), (RoundRequest(1, "c", "p", "jz", "", -1),)), "amount"),
            (RoundInput((Supply("jz", "", -5),), ()), "supply"),
            (RoundInput((), (), (("c", 0),)), "weights"),
            (RoundInput((), (RoundRequest(1, "c", "p", "jz", "", 1),) * 2), "requests"),
        ],
    )
    def test_a_round_that_cannot_be_divided_is_refused_naming_the_field(
        self, round_input: RoundInput, field: str
    ) -> None:
        with pytest.raises(InvalidInput) as refused:
            propose(round_input)
        assert refused.value.field == field


def test_hours_are_written_to_the_millihour_thousands_apart() -> None:
    assert [hours(6_000 * H), hours(9_600_000 // 3), hours(1)] == ["6 000 h", "888.889 h", "0 h"]


def test_demand_shows_what_is_asked_against_what_is_there_per_pool_type_and_chair() -> None:
    rows = demand(TestOversubscribedPool.ROUND)
    assert [(d.gpu_type, d.chair_id, d.requested // H, d.available // H) for d in rows] == [
        ("a100", "", 14_000, 10_000),
        ("a100", "chair-nlp", 8_000, 10_000),
        ("a100", "chair-robotics", 1_000, 10_000),
        ("a100", "chair-vision", 5_000, 10_000),
    ]
