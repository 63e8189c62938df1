"""Benchmark: a round's fair proposal (not a test; run it by hand).

    .venv/bin/python -m tests.bench.bench_rounds [--requests 1000] [--chairs 18] [--runs 15]
        [--seed 16]

Builds a seeded random round: ``--requests`` requests over ``--chairs`` chairs (weights 1 to 3,
three to eight projects each) and 3 pools (jz with a100 and h100, a local pool with l40s and
a100, the national ai2f pool counted in untyped normalised hours); one request in ten carries a
thesis minimum; each supply holds 60 % of what is asked of it. Prints the median and the max
time of ``propose`` over ``--runs`` runs (after one warm-up run) and how many lines each basis
explains. Target (issue 16): under 1 s for 1,000 requests over 18 chairs and 3 pools.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter, defaultdict
from fractions import Fraction

from allocator.model import SECONDS_PER_HOUR
from allocator.rounds import RoundInput, RoundRequest, Supply, propose

RESOURCES = [("jz", "a100"), ("jz", "h100"), ("local", "l40s"), ("local", "a100"), ("ai2f", "")]


def build(requests: int, chairs: int, seed: int) -> RoundInput:
    rng = random.Random(seed)
    chair_ids = [f"chair-{i:02d}" for i in range(chairs)]
    projects = {c: [f"{c}-proj-{j}" for j in range(rng.randint(3, 8))] for c in chair_ids}
    lines: list[RoundRequest] = []
    for i in range(1, requests + 1):
        chair = rng.choice(chair_ids)
        pool, gpu_type = rng.choice(RESOURCES)
        amount = rng.randint(50, 5_000) * SECONDS_PER_HOUR + rng.randint(0, 3599)
        minimum = amount // rng.randint(3, 10) if rng.random() < 0.1 else 0
        project = rng.choice(projects[chair])
        lines.append(
            RoundRequest(
                i, chair, project, pool, gpu_type, amount, minimum, "thesis" * bool(minimum)
            )
        )
    asked: dict[tuple[str, str], int] = defaultdict(int)
    for r in lines:
        asked[(r.pool_id, r.gpu_type)] += r.amount
    supply = tuple(Supply(p, g, amount * 6 // 10) for (p, g), amount in sorted(asked.items()))
    weights = tuple((c, Fraction(rng.randint(1, 3))) for c in chair_ids)
    return RoundInput(supply, tuple(lines), weights)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--chairs", type=int, default=18)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    round_input = build(args.requests, args.chairs, args.seed)
    first = propose(round_input)  # warm-up
    times: list[float] = []
    for _ in range(args.runs):
        started = time.perf_counter()
        lines = propose(round_input)
        times.append((time.perf_counter() - started) * 1000)
        assert lines == first
    bases = Counter(line.basis.value for line in lines)
    print(
        f"propose: {args.requests} requests, {args.chairs} chairs, 3 pools"
        f" ({len(round_input.supply)} pool x GPU type supplies, 60 % of demand), {args.runs} runs:"
        f" median {statistics.median(times):.1f} ms, max {max(times):.1f} ms"
    )
    print("lines by basis: " + ", ".join(f"{b} {n}" for b, n in sorted(bases.items())))


if __name__ == "__main__":
    main()
