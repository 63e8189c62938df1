"""``gpuhours requests``: list, approve (in full or per period) and reject."""

from __future__ import annotations

import click

from allocator import hours as hours_rule
from allocator import services as svc
from allocator.errors import InvalidInput
from allocator.model import RequestState
from connectors.cli import columns, render
from connectors.cli._common import cli_actor, emit, hours_arg, one_line_errors, services


@click.group()
def requests() -> None:
    """Allocation requests."""


@requests.command("list")
@click.option("--state", default=None)
@one_line_errors
def requests_list(state: str | None) -> None:
    sv = services()
    try:
        wanted = RequestState(state) if state else None
    except ValueError:
        states = ", ".join(s.value for s in RequestState)
        raise InvalidInput("state", f"{state!r} is not one of {states}") from None
    emit(
        [render.request(r) for r in svc.list_requests(sv.uow(), cli_actor(), wanted)],
        columns.REQUEST,
    )


def grants_arg(grants: tuple[str, ...]) -> list[tuple[str, int]] | None:
    """``--grant PERIOD=HOURS`` (hours may be 0), repeated; none: approve in full."""
    if not grants:
        return None
    granted = []
    for g in grants:
        period, sep, value = g.partition("=")
        if not sep:
            raise InvalidInput("grant", f"{g!r} is not PERIOD=HOURS")
        hours = hours_arg(value, "grant", hours_rule.Sign.ZERO_OR_MORE)
        granted.append((period, hours_rule.to_seconds(hours)))
    return granted


@requests.command("approve")
@click.argument("request_id", type=int)
@click.option(
    "--grant",
    "grants",
    multiple=True,
    metavar="PERIOD=HOURS",
    help="Partial approval, per period; omit to approve in full.",
)
@click.option("--reason", default="")
@one_line_errors
def requests_approve(request_id: int, grants: tuple[str, ...], reason: str) -> None:
    sv = services()
    granted = grants_arg(grants)
    try:
        r = svc.approve_request(
            sv.uow(),
            cli_actor(),
            sv.clock(),
            request_id,
            granted,
            reason,
            calendar=sv.settings.calendar,
        )
    except InvalidInput as exc:  # the API's "granted" is the CLI's --grant
        raise (InvalidInput("grant", exc.reason) if exc.field == "granted" else exc) from None
    emit(render.request(r))


@requests.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", required=True)
@one_line_errors
def requests_reject(request_id: int, reason: str) -> None:
    sv = services()
    r = svc.reject_request(sv.uow(), cli_actor(), sv.clock(), request_id, reason)
    emit(render.request(r))


COMMANDS = (requests,)
