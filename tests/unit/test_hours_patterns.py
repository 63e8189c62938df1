"""The documented amounts of hours are exactly the accepted ones.

The API documents each amount field as a JSON number (a multiple of ``STEP``, within bounds) or
a string matching ``STRICT_PATTERNS[sign]`` (``allocator/hours.py``). A client that follows the
document is never refused; the only accepted strings it does not describe are those written
with leading zeros (``007``) and a negative zero (``-0``), which it leaves out on purpose.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.hours import STEP, STRICT_PATTERNS, Sign, parse
from allocator.rules import MAX_HOURS


def accepted(text: str, sign: Sign) -> bool:
    """Does the API take ``text`` for a field of ``sign`` (adjustments: not zero)?"""
    try:
        value = parse(text, sign)
    except ValueError:
        return False
    return not (sign is Sign.SIGNED and value == 0)


SAMPLES = [
    *(
        f"{whole}{fraction}"
        for whole in ("0", "1", "12", "999999999", "1000000000", "1000000001")
        for fraction in (
            "",
            ".",
            ".0",
            ".5",
            ".00",
            ".25",
            ".000",
            ".005",
            ".125",
            ".001",
            ".004",
            ".0050",
            ".999",
            ".995",
            ".010",
        )
    ),
    "00",
    "01",
    "007.5",
    "-0",
    "-1",
    "-0.005",
    "-1000000000",
    "-1000000000.005",
    "1e3",
    " 1",
    "1_0",
    "+1",
    "",
    ".5",
    "0.0001",
    "١",
    "NaN",
]


@pytest.mark.parametrize("sign", list(Sign))
def test_a_documented_string_is_accepted_and_an_undocumented_one_is_oddly_written(
    sign: Sign,
) -> None:
    pattern = re.compile(STRICT_PATTERNS[sign])
    candidates = [*SAMPLES, *(f"-{text}" for text in SAMPLES)]
    for text in candidates:
        documented = pattern.fullmatch(text) is not None
        if documented:
            assert accepted(text, sign), (sign, text)
        elif accepted(text, sign):
            assert re.match(r"-?0[0-9]", text) or parse(text, sign) == 0, (sign, text)


@settings(max_examples=300, derandomize=True)
@given(st.sampled_from(list(Sign)), st.data())
def test_every_string_the_pattern_generates_is_accepted(sign: Sign, data: st.DataObject) -> None:
    text = data.draw(st.from_regex(STRICT_PATTERNS[sign], fullmatch=True))
    assert accepted(text, sign), (sign, text)


@settings(max_examples=300, derandomize=True)
@given(st.integers(-(MAX_HOURS * 200), MAX_HOURS * 200))
def test_every_multiple_of_the_step_within_bounds_is_accepted_as_a_json_number(
    steps: int,
) -> None:
    number = float(steps * STEP)  # what a client sends: the nearest float, its shortest form
    for sign in Sign:
        value = Decimal(steps) * STEP
        in_bounds = {
            Sign.POSITIVE: value > 0,
            Sign.ZERO_OR_MORE: value >= 0,
            Sign.SIGNED: value != 0,
        }[sign]
        written = repr(number).removesuffix(".0")
        assert accepted(written, sign) is in_bounds, (sign, written)
