"""The operations a random run of ``test_property`` draws (hypothesis strategies), over two
pools, two periods, two chairs and three projects of the seeded world."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import strategies as st

H = 3600
POOLS = ("nat", "loc")
PERIODS = ("2026Q4", "2027Q1")
CHAIRS = ("chair-a", "chair-b")
PROJECTS = {"p1": "chair-a", "p1b": "chair-a", "p2": "chair-b"}
LOCAL_GPUS = 2  # tests/builders.local_pool: 2 a100 at rate 1, availability 1


# --- operations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocChair:
    pool: str
    chair: str
    period: str
    quarter_hours: int


@dataclass(frozen=True)
class AllocProject:
    pool: str
    project: str
    period: str
    quarter_hours: int
    draw_from_pool: bool


@dataclass(frozen=True)
class Transfer:
    pool: str
    period: str
    source: str
    target: str
    quarter_hours: int


@dataclass(frozen=True)
class Rebalance:
    """Transfer half of what ``source`` holds (in whole 36-second steps) to its sibling."""

    pool: str
    period: str
    source: str
    target: str


@dataclass(frozen=True)
class Adjust:
    pool: str
    project: str
    period: str
    quarter_hours: int  # signed, never zero


@dataclass(frozen=True)
class Boundary:
    """Ask for all that ``level`` can give (in 36-second steps), or one step more (``over``).

    All of it must be granted (201; 422 when that rounds to nothing); one step more is an
    over-commit and must be refused (409) with ``field == "hours"``.
    """

    level: str  # "pool" (pool -> chair), "chair" (chair -> project) or "transfer"
    pool: str
    period: str
    project: str
    over: bool


@dataclass(frozen=True)
class Submit:
    project: str
    pool: str
    lines: tuple[tuple[str, int], ...]  # (period, quarter-hours)


@dataclass(frozen=True)
class Decide:
    """Act on the ``index``-th request submitted so far (modulo their number)."""

    action: str  # "approve", "reject" or "withdraw"
    index: int
    quarters: tuple[int, ...] | None = None  # partial approval: k/4 of each line


pools = st.sampled_from(POOLS)
periods = st.sampled_from(PERIODS)
projects = st.sampled_from(sorted(PROJECTS))
quarter_hours = st.one_of(
    st.integers(1, 800),  # up to 200 h
    st.integers(800, 24_000),  # up to 6000 h: beyond a quarter of either pool
    st.just(4_000_000),  # a million hours: always an over-commit
)
sibling_pairs = st.sampled_from([("p1", "p1b"), ("p1b", "p1")])
operations = st.one_of(
    st.builds(AllocChair, pools, st.sampled_from(CHAIRS), periods, quarter_hours),
    st.builds(AllocProject, pools, projects, periods, quarter_hours, st.booleans()),
    st.builds(
        lambda pool, period, pair, q: Transfer(pool, period, *pair, q),
        pools,
        periods,
        st.one_of(sibling_pairs, sibling_pairs, st.tuples(projects, projects)),
        st.integers(1, 800),
    ),
    st.builds(
        lambda pool, period, pair: Rebalance(pool, period, *pair), pools, periods, sibling_pairs
    ),
    st.builds(
        Adjust,
        pools,
        projects,
        periods,
        st.integers(-2000, 2000).filter(bool),
    ),
    st.builds(
        Boundary,
        st.sampled_from(["pool", "chair", "transfer"]),
        pools,
        periods,
        projects,
        st.booleans(),
    ),
    st.builds(
        Submit,
        projects,
        pools,
        st.lists(
            st.tuples(periods, st.integers(1, 8000)),
            min_size=1,
            max_size=2,
            unique_by=lambda line: line[0],
        ).map(tuple),
    ),
    st.builds(
        Decide,
        st.sampled_from(["approve", "reject", "withdraw"]),
        st.integers(0, 5),
        st.one_of(st.none(), st.tuples(st.integers(0, 4), st.integers(0, 4))),
    ),
)


def hours(quarter_hours: int) -> str:
    return str(Decimal(quarter_hours) / 4)
