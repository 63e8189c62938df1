"""A checker of a proposal, independent of how :func:`allocator.rounds.propose` computes it:
the bounds, the supply, and weighted max-min fairness read on the output."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

from allocator.rounds import ProposalLine, RoundInput, RoundRequest


def violations(round_input: RoundInput, lines: tuple[ProposalLine, ...]) -> list[str]:
    """Every way ``lines`` break the rules of a round (empty: none)."""
    amount = {line.request_id: line.amount for line in lines}
    supply = {(s.pool_id, s.gpu_type): s.amount for s in round_input.supply}
    resources: dict[tuple[str, str], list[RoundRequest]] = defaultdict(list)
    for r in round_input.requests:
        resources[(r.pool_id, r.gpu_type)].append(r)
    found: list[str] = []
    for resource, requests in resources.items():
        found += _resource_violations(round_input, requests, amount, supply.get(resource, 0))
    return found


def _resource_violations(
    round_input: RoundInput, requests: list[RoundRequest], x: dict[int, int], supply: int
) -> list[str]:
    minimums_fit = sum(r.minimum for r in requests) <= supply
    # When the minimums do not fit, the minimums are what is divided: they are the caps.
    cap = {r.id: r.amount if minimums_fit else r.minimum for r in requests}
    floor = {r.id: r.minimum if minimums_fit else 0 for r in requests}
    found = [f"request {r.id} above its cap" for r in requests if x[r.id] > cap[r.id]]
    found += [f"request {r.id} below its minimum" for r in requests if x[r.id] < floor[r.id]]
    given = sum(x[r.id] for r in requests)
    if given > supply:
        found.append(f"{given} given of a supply of {supply}")
    if given < min(supply, sum(cap.values())):
        found.append(f"{supply - given} left unused while requests are short")
    chair: dict[str, int] = defaultdict(int)
    project: dict[str, int] = defaultdict(int)
    for r in requests:
        chair[r.chair_id] += x[r.id]
        project[r.project_id] += x[r.id]
    for gainer in (r for r in requests if x[r.id] < cap[r.id]):
        for giver in (r for r in requests if x[r.id] > floor[r.id] and r.id != gainer.id):
            if _gains_from(round_input, gainer, giver, x, chair, project):
                found.append(f"request {gainer.id} could fairly take from request {giver.id}")
    return found


def _gains_from(
    round_input: RoundInput,
    gainer: RoundRequest,
    giver: RoundRequest,
    x: dict[int, int],
    chair: dict[str, int],
    project: dict[str, int],
) -> bool:
    """True if one unit-second moved from ``giver`` to ``gainer`` would raise the lower level:
    the giver's level after giving stays above the gainer's level before."""
    if gainer.chair_id != giver.chair_id:
        w_giver, w_gainer = round_input.weight(giver.chair_id), round_input.weight(gainer.chair_id)
        return Fraction(chair[giver.chair_id] - 1) / w_giver > chair[gainer.chair_id] / w_gainer
    if gainer.project_id != giver.project_id:
        return project[giver.project_id] - 1 > project[gainer.project_id]
    return x[giver.id] - 1 > x[gainer.id]
