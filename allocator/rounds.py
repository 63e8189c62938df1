"""Allocation rounds: a fair proposal when a period's requests exceed what the pools hold.

Pure and deterministic. Amounts are integer unit-seconds of each pool's unit, as everywhere in
the allocator (an hour is 3600 of them).

**Supply.** A round divides, for each pool, its hours per GPU type: ``Supply(pool, "a100",
...)``. A request names a pool and a GPU type and takes only from that supply; ``""`` is a pool's
untyped hours (a pool counted in normalised hours any GPU may use). Each (pool, GPU type) is
divided on its own: chairs compete for the a100 hours of a pool only with the other requests
for them.

**A pool's overall cap.** ``RoundInput.pool_caps`` may cap a pool over all its GPU types (its
headroom, when its typed supplies add up to more than it may still give). After each (pool, GPU
type) is divided, a pool whose lines add up to more than its cap is divided again, over all its
requests, by the same fair rule, each capped at its line of the first division: a request is
then capped by its GPU type's supply and by its pool's total. A request without a GPU type
(``""``) takes from ``Supply(pool, "")``, which a capped pool sets to its cap.

**The proposal** (:func:`propose`), for each (pool, GPU type):

1. *Minimums first, when they fit.* A request may carry a guaranteed minimum with its reason
   (``thesis``). If the minimums of a supply fit in it, every request gets its minimum before
   anything else is shared. If they do not fit, the supply is divided over the minimums alone,
   by the same fair rule below with each minimum as the cap, and the requests without one get
   nothing: a guarantee is never traded against a request that has none.
2. *Weighted max-min fairness over chairs.* Each chair's level is its hours divided by its
   weight (set for the round; a chair without one weighs 1). The supply is poured so that the
   lowest level is as high as it can be: a chair stops rising when all it asked is given; the
   others rise on, in proportion to their weights.
3. *Then over projects inside a chair* (equal weights), *then over one project's requests*
   (equal weights), each with the same rule on the chair's hours, then the project's.
4. *Caps at the request*: no request gets more than it asked.

The result is max-min fair, read on the output: no line below its request could take a
unit-second from another line (above its minimum) whose weighted level (its chair's, or inside
one chair its project's, or inside one project its own) would stay above the taker's.

Exact integer arithmetic (:mod:`allocator.fairness`): the water level is a fraction; the
unit-seconds that do not divide evenly go, one each, to the lowest levels, ties to the chair,
project or request that comes first by id. The result does not depend on the order of the input.

**Example.** jz holds 10 000 h of a100 and 14 000 h are asked (40 % oversubscribed):
chair-robotics (weight 1) asks 1 000 h, chair-vision (weight 1) 5 000 h, chair-nlp (weight 2)
8 000 h for two projects (5 000 h and 3 000 h). chair-robotics stops rising at its 1 000 h; the
9 000 h left go 1 : 2, 3 000 h to chair-vision and 6 000 h to chair-nlp, whose projects split
them equally (3 000 h each; the smaller is then exactly at its request). The lines read
"capped at request (1 000 h asked)", "share of chair-vision's 3 000 h of a100 in pool jz at
weight 1", "share of chair-nlp's 6 000 h of a100 in pool jz at weight 2, split equally among its
2 projects up to their requests".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from fractions import Fraction

from allocator.errors import InvalidInput
from allocator.fairness import Claim, fill
from allocator.model import SECONDS_PER_HOUR
from allocator.rules import MAX_AMOUNT, no_duplicates


@dataclass(frozen=True, slots=True)
class Supply:
    """Hours of ``gpu_type`` (``""``: any type) the pool holds for the round."""

    pool_id: str
    gpu_type: str
    amount: int


@dataclass(frozen=True, slots=True)
class RoundRequest:
    """A request of the round: ``amount`` asked, at least ``minimum`` guaranteed (``0``: none)
    for ``minimum_reason`` (``"thesis"``)."""

    id: int
    chair_id: str
    project_id: str
    pool_id: str
    gpu_type: str
    amount: int
    minimum: int = 0
    minimum_reason: str = ""


@dataclass(frozen=True, slots=True)
class RoundInput:
    supply: tuple[Supply, ...]
    requests: tuple[RoundRequest, ...]
    #: ``(chair_id, weight)``; a weight is a positive integer or fraction; absent chairs weigh 1
    weights: tuple[tuple[str, Fraction | int], ...] = ()
    #: ``(pool_id, amount)``: what a pool may give over all its GPU types; absent: no such cap
    pool_caps: tuple[tuple[str, int], ...] = ()

    def weight(self, chair_id: str) -> Fraction:
        return Fraction(dict(self.weights).get(chair_id, 1))


class Basis(StrEnum):
    """Why a line has its amount."""

    REQUEST = "request"  # capped at what was asked
    MINIMUM = "minimum"  # held at its guaranteed minimum
    SHARE = "share"  # its fair share of its chair's hours
    MINIMUMS_CUT = "minimums_cut"  # the minimums did not fit: a share of them
    SUPPLY = "supply"  # the one request left short: it takes what the others leave
    NO_SUPPLY = "no_supply"  # nothing of its GPU type in its pool is left for it


@dataclass(frozen=True, slots=True)
class ProposalLine:
    request_id: int
    amount: int
    basis: Basis
    explanation: str


def propose(round_input: RoundInput) -> tuple[ProposalLine, ...]:
    """One line per request, by request id: its proposed amount and why."""
    check_round(round_input)
    supply = {(s.pool_id, s.gpu_type): s.amount for s in round_input.supply}
    by_resource: dict[tuple[str, str], list[RoundRequest]] = defaultdict(list)
    for r in sorted(round_input.requests, key=lambda r: r.id):
        by_resource[(r.pool_id, r.gpu_type)].append(r)
    lines: list[ProposalLine] = []
    for resource, requests in by_resource.items():
        lines += _divide(Resource(*resource, supply.get(resource, 0)), requests, round_input)
    for pool_id, cap in round_input.pool_caps:
        lines = _cap_pool(pool_id, cap, lines, round_input)
    return tuple(sorted(lines, key=lambda line: line.request_id))


def _cap_pool(
    pool_id: str, cap: int, lines: list[ProposalLine], round_input: RoundInput
) -> list[ProposalLine]:
    """The lines of ``pool_id`` divided again within ``cap`` if they exceed it, each capped at
    its first amount; a line that keeps it keeps its explanation."""
    requests = [r for r in round_input.requests if r.pool_id == pool_id]
    first = {line.request_id: line for line in lines}
    if sum(first[r.id].amount for r in requests) <= cap:
        return lines
    capped = [
        replace(r, amount=first[r.id].amount, minimum=min(r.minimum, first[r.id].amount))
        for r in sorted(requests, key=lambda r: r.id)
    ]
    again = {
        line.request_id: line
        for line in _divide(Resource(pool_id, "", cap, all_types=True), capped, round_input)
    }
    return [
        again[line.request_id]
        if line.request_id in again and again[line.request_id].amount < line.amount
        else line
        for line in lines
    ]


@dataclass(frozen=True, slots=True)
class Resource:
    pool_id: str
    gpu_type: str
    supply: int
    all_types: bool = False  # the pool's overall cap, over all its GPU types

    @property
    def of(self) -> str:
        """``of a100 in pool jz``; ``in pool jz`` for a pool's untyped hours; ``of all GPU
        types in pool jz`` for its overall cap."""
        if self.all_types:
            return f"of all GPU types in pool {self.pool_id}"
        return (
            f"of {self.gpu_type} in pool {self.pool_id}"
            if self.gpu_type
            else f"in pool {self.pool_id}"
        )


def _divide(
    resource: Resource, requests: list[RoundRequest], round_input: RoundInput
) -> list[ProposalLine]:
    minimums = sum(r.minimum for r in requests)
    if minimums > resource.supply:
        caps = {r.id: r.minimum for r in requests}
        amounts = _hierarchical(resource.supply, requests, round_input, caps, floors=False)
        return [_minimums_cut_line(r, amounts[r.id], resource, minimums) for r in requests]
    caps = {r.id: r.amount for r in requests}
    amounts = _hierarchical(resource.supply, requests, round_input, caps, floors=True)
    chair_totals: dict[str, int] = defaultdict(int)
    for r in requests:
        chair_totals[r.chair_id] += amounts[r.id]
    projects: dict[str, set[str]] = defaultdict(set)
    for r in requests:
        projects[r.chair_id].add(r.project_id)
    short = [r for r in requests if amounts[r.id] < r.amount]
    return [
        _supply_line(r, amounts[r.id], resource)
        if short == [r] and amounts[r.id] > r.minimum
        else _line(
            r,
            amounts[r.id],
            resource,
            (chair_totals[r.chair_id], len(projects[r.chair_id])),
            round_input.weight(r.chair_id),
        )
        for r in requests
    ]


def _hierarchical(
    supply: int,
    requests: Sequence[RoundRequest],
    round_input: RoundInput,
    caps: Mapping[int, int],
    *,
    floors: bool,
) -> dict[int, int]:
    """Chairs by weight, then a chair's projects, then a project's requests (equal weights)."""
    out: dict[int, int] = {}
    chairs = _groups(requests, lambda r: r.chair_id)
    weights = [round_input.weight(chair_id) for chair_id in chairs]
    chair_amounts = _share(supply, list(chairs.values()), weights, caps, floors)
    for chair_amount, chair_requests in zip(chair_amounts, chairs.values(), strict=True):
        projects = list(_groups(chair_requests, lambda r: r.project_id).values())
        project_amounts = _share(chair_amount, projects, None, caps, floors)
        for project_amount, project_requests in zip(project_amounts, projects, strict=True):
            singles = [[r] for r in project_requests]
            amounts = _share(project_amount, singles, None, caps, floors)
            out.update({r.id: a for r, a in zip(project_requests, amounts, strict=True)})
    return out


def _groups(
    requests: Iterable[RoundRequest], key: Callable[[RoundRequest], str]
) -> dict[str, list[RoundRequest]]:
    """Requests grouped by ``key``, the groups in the order of their keys (the stable order)."""
    out: dict[str, list[RoundRequest]] = defaultdict(list)
    for r in requests:
        out[key(r)].append(r)
    return {k: out[k] for k in sorted(out)}


def _share(
    supply: int,
    groups: Sequence[Sequence[RoundRequest]],
    weights: Sequence[Fraction] | None,
    caps: Mapping[int, int],
    floors: bool,
) -> list[int]:
    """``supply`` divided among ``groups`` (weights ``None``: equal), each capped at its
    requests' caps, given first its minimums when ``floors``."""
    claims = [
        Claim(
            Fraction(1) if weights is None else weights[i],
            sum(caps[r.id] for r in members),
            sum(r.minimum for r in members) if floors else 0,
        )
        for i, members in enumerate(groups)
    ]
    return fill(supply, claims)


@dataclass(frozen=True, slots=True)
class Demand:
    """Asked against available for one pool and GPU type: in total (``chair_id`` ``""``) or
    for one chair."""

    pool_id: str
    gpu_type: str
    chair_id: str
    requested: int
    minimums: int
    available: int


def demand(round_input: RoundInput) -> tuple[Demand, ...]:
    """What a round shows after its deadline: per pool and GPU type, what is asked (and
    guaranteed) against what is there, in total and per chair. A pool with an overall cap shows
    it as its ``""`` rows, which then count every request of the pool, whatever its GPU type."""
    supply = {(s.pool_id, s.gpu_type): s.amount for s in round_input.supply}
    supply.update({(pool_id, ""): cap for pool_id, cap in round_input.pool_caps})
    capped = {pool_id for pool_id, _ in round_input.pool_caps}
    asked: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in round_input.requests:
        types = {r.gpu_type, ""} if r.pool_id in capped else {r.gpu_type}
        for gpu_type in types:
            for chair in ("", r.chair_id):
                totals = asked[(r.pool_id, gpu_type, chair)]
                totals[0] += r.amount
                totals[1] += r.minimum
    for pool_id, gpu_type in supply:  # a supply nobody asked for shows too
        asked.setdefault((pool_id, gpu_type, ""), [0, 0])
    return tuple(
        Demand(pool, gpu_type, chair, requested, minimums, supply.get((pool, gpu_type), 0))
        for (pool, gpu_type, chair), (requested, minimums) in sorted(asked.items())
    )


# --- explanations ------------------------------------------------------------------------------


def _line(
    r: RoundRequest, amount: int, resource: Resource, chair: tuple[int, int], weight: Fraction
) -> ProposalLine:
    """``chair``: the chair's hours of ``resource`` and how many of its projects share them."""
    chair_total, projects = chair
    if amount == r.amount:
        return ProposalLine(
            r.id, amount, Basis.REQUEST, f"capped at request ({hours(r.amount)} asked)"
        )
    if r.minimum and amount == r.minimum:
        return ProposalLine(
            r.id,
            amount,
            Basis.MINIMUM,
            f"minimum for {r.minimum_reason or 'its guarantee'}: {hours(amount)} guaranteed of"
            f" {hours(r.amount)} asked",
        )
    if chair_total == 0:
        return ProposalLine(r.id, 0, Basis.NO_SUPPLY, _nothing_left(resource))
    text = (
        f"share of {r.chair_id}'s {hours(chair_total)} {resource.of}"
        f" at weight {_fraction_text(weight)}"
    )
    if projects > 1:
        text += f", split equally among its {projects} projects up to their requests"
    return ProposalLine(r.id, amount, Basis.SHARE, text)


def _supply_line(r: RoundRequest, amount: int, resource: Resource) -> ProposalLine:
    """The one request left short: it takes what the others leave."""
    return ProposalLine(
        r.id,
        amount,
        Basis.SUPPLY,
        f"capped by the supply {resource.of} ({hours(resource.supply)}):"
        f" {hours(amount)} left for it, of {hours(r.amount)} asked",
    )


def _nothing_left(resource: Resource) -> str:
    if resource.supply == 0:
        kind = f"{resource.gpu_type} hours" if resource.gpu_type else "hours"
        return f"nothing: the round holds no {kind} in pool {resource.pool_id}"
    return (
        f"nothing: the {hours(resource.supply)} {resource.of} go to guaranteed minimums"
        " and to lower levels first"
    )


def _minimums_cut_line(
    r: RoundRequest, amount: int, resource: Resource, minimums: int
) -> ProposalLine:
    why = (
        f"the minimums asked {resource.of} ({hours(minimums)}) exceed its supply"
        f" ({hours(resource.supply)}), shared fairly among the minimums alone"
    )
    if r.minimum:
        reason = r.minimum_reason or "its guarantee"
        return ProposalLine(
            r.id,
            amount,
            Basis.MINIMUMS_CUT,
            f"minimum for {reason} cut to {hours(amount)} of {hours(r.minimum)}: {why}",
        )
    return ProposalLine(r.id, 0, Basis.MINIMUMS_CUT, f"nothing: {why}")


def hours(seconds: int) -> str:
    """Unit-seconds as hours to the millihour (rounded half up), thousands apart: ``6 000 h``,
    ``2 666.667 h``."""
    milli = (seconds * 1000 + SECONDS_PER_HOUR // 2) // SECONDS_PER_HOUR
    whole, frac = divmod(milli, 1000)
    text = f"{whole:,}".replace(",", " ")
    if frac:
        text += f".{frac:03d}".rstrip("0")
    return f"{text} h"


def _fraction_text(value: Fraction) -> str:
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


# --- input checks -------------------------------------------------------------------------------


def check_round(round_input: RoundInput) -> None:
    """Refuse a round that cannot be divided, naming the field and the reason."""
    no_duplicates("requests", [(r.id, f"request {r.id}") for r in round_input.requests])
    no_duplicates(
        "supply",
        [
            ((s.pool_id, s.gpu_type), f"{s.gpu_type or 'hours'} of {s.pool_id}")
            for s in round_input.supply
        ],
    )
    no_duplicates("weights", [(c, f"chair {c!r}") for c, _w in round_input.weights])
    for chair_id, weight in round_input.weights:
        if isinstance(weight, bool) or not isinstance(weight, int | Fraction) or weight <= 0:
            raise InvalidInput("weights", f"{chair_id}: a weight is a positive integer or fraction")
    for s in round_input.supply:
        _check_amount("supply", s.amount, f"{s.gpu_type or 'hours'} of {s.pool_id}")
    no_duplicates("pool_caps", [(p, f"pool {p!r}") for p, _cap in round_input.pool_caps])
    for pool_id, cap in round_input.pool_caps:
        _check_amount("pool_caps", cap, f"the cap of {pool_id}")
    for r in round_input.requests:
        _check_amount("amount", r.amount, f"request {r.id}")
        _check_amount("minimum", r.minimum, f"request {r.id}")
        if r.minimum > r.amount:
            raise InvalidInput("minimum", f"request {r.id}: the minimum exceeds the amount asked")


def _check_amount(field: str, amount: int, what: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
        raise InvalidInput(field, f"{what}: must be whole unit-seconds, 0..{MAX_AMOUNT}")
