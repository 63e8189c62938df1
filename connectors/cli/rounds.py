"""``gpuhours rounds``: allocation rounds (admins; engineers read)."""

from __future__ import annotations

import click

from connectors.cli._common import one_line_errors
from connectors.cli.gateway import gateway
from connectors.cli.output import emit


@click.group()
def rounds() -> None:
    """Allocation rounds: a period's requests divided fairly, approved whole."""


@rounds.command("list")
@one_line_errors
def rounds_list() -> None:
    """The rounds, newest first."""
    emit(gateway().rounds())


@rounds.command("show")
@click.argument("round_id", type=int)
@one_line_errors
def rounds_show(round_id: int) -> None:
    """A round: its requests, demand against supply and its lines, each with its reason."""
    emit(gateway().round(round_id))


#: ``rounds demand``: asked against available per pool, GPU type (``every type``: the pool's
#: total, which caps all its requests together) and chair (``every chair``)
DEMAND = (
    "pool_id",
    ("gpu_type", lambda d: d["gpu_type"] or "every type"),
    ("chair_id", lambda d: d["chair_id"] or "every chair"),
    "requested_hours",
    "minimums_hours",
    "available_hours",
)


@rounds.command("demand")
@click.argument("round_id", type=int)
@one_line_errors
def rounds_demand(round_id: int) -> None:
    """A round's demand against supply: per pool and GPU type, hours asked, guaranteed and
    available (a type's capacity less what is approved for it; every type: the pool's total)."""
    shown = gateway().round(round_id)
    if shown["demand"] is None:
        raise click.ClickException(f"round {round_id}: demand shows after its deadline")
    emit(shown["demand"], DEMAND)


@rounds.command("open")
@click.option("--period", required=True)
@click.option("--pool", "pool_ids", required=True, multiple=True, help="Repeat for each pool.")
@click.option("--deadline", required=True, help="ISO 8601 with offset: 2026-12-15T18:00:00Z.")
@one_line_errors
def rounds_open(period: str, pool_ids: tuple[str, ...], deadline: str) -> None:
    """Open a round; the period's requests in those pools submitted before DEADLINE join it."""
    emit(gateway().open_round(period, list(pool_ids), deadline))


@rounds.command("weights")
@click.argument("round_id", type=int)
@click.argument("weights", nargs=-1, metavar="CHAIR=WEIGHT...")
@one_line_errors
def rounds_weights(round_id: int, weights: tuple[str, ...]) -> None:
    """Set the chairs' weights (replacing those set; a chair not named weighs 1)."""
    pairs = []
    for text in weights:
        chair, _, weight = text.partition("=")
        if not weight.isdigit():
            raise click.BadParameter(
                f"{text!r}: CHAIR=WEIGHT, a whole weight", param_hint="weights"
            )
        pairs.append((chair, int(weight)))
    emit(gateway().round_weights(round_id, pairs))


@rounds.command("minimum")
@click.argument("round_id", type=int)
@click.argument("request_id", type=int)
@click.option("--hours", required=True, help="0 removes the minimum.")
@click.option("--reason", required=True, help="thesis, ...")
@one_line_errors
def rounds_minimum(round_id: int, request_id: int, hours: str, reason: str) -> None:
    """Guarantee a request at least HOURS in the round."""
    emit(gateway().round_minimum(round_id, request_id, hours, reason))


@rounds.command("edit")
@click.argument("round_id", type=int)
@click.argument("request_id", type=int)
@click.option("--hours", required=True)
@click.option("--reason", required=True)
@one_line_errors
def rounds_edit(round_id: int, request_id: int, hours: str, reason: str) -> None:
    """Set one line's amount over the proposal's (at most what the request asks)."""
    emit(gateway().round_edit(round_id, request_id, hours, reason))


@rounds.command("approve")
@click.argument("round_id", type=int)
@click.option("--reason", default="")
@one_line_errors
def rounds_approve(round_id: int, reason: str) -> None:
    """Approve the whole round in one transaction (round:N on every allocation), or nothing."""
    emit(gateway().approve_round(round_id, reason))


COMMANDS = [rounds]
