"""``gpuhours requests``: a researcher submits, lists, shows and withdraws requests; staff
comment; an admin approves (in full or per period) or rejects. Locally or on a server
(``gateway``)."""

from __future__ import annotations

import click

from allocator import hours as hours_rule
from allocator.errors import InvalidInput
from connectors.cli import columns
from connectors.cli._common import emit, hours_arg, one_line_errors
from connectors.cli.gateway import Lines, gateway


@click.group()
def requests() -> None:
    """Allocation requests."""


@requests.command("list")
@click.option("--state", default=None, help="submitted, approved, partially_approved, ...")
@one_line_errors
def requests_list(state: str | None) -> None:
    """Requests one may see: one's projects' for a researcher, all of them for staff."""
    emit(gateway().requests(state), columns.REQUEST)


@requests.command("show")
@click.argument("request_id", type=click.IntRange(1, 2**31 - 1))
@one_line_errors
def requests_show(request_id: int) -> None:
    """One request, its lines and comments."""
    emit(gateway().request(request_id))


def period_hours(values: tuple[str, ...], field: str, sign: hours_rule.Sign) -> Lines:
    """``PERIOD=HOURS``, repeated; the hours checked by the one rule (``allocator.hours``)."""
    lines = []
    for value in values:
        period, sep, hours = value.partition("=")
        if not sep or not period:
            raise InvalidInput(field, f"{value!r} is not PERIOD=HOURS (e.g. 2026Q4=120)")
        hours_arg(hours, field, sign)
        lines.append((period, hours))
    return lines


@requests.command("submit")
@click.option("--project", "project_id", required=True)
@click.option("--pool", "pool_id", required=True)
@click.option(
    "--hours",
    "amounts",
    multiple=True,
    required=True,
    metavar="PERIOD=HOURS",
    help="Hours asked for a period, e.g. 2026Q4=120; repeat for several periods.",
)
@click.option("--justification", required=True)
@click.option("--gpu-type", default=None, help="Only this GPU type of the pool.")
@one_line_errors
def requests_submit(
    project_id: str,
    pool_id: str,
    amounts: tuple[str, ...],
    justification: str,
    gpu_type: str | None,
) -> None:
    """Ask for hours of a pool for a project (its members and PI; an admin for any)."""
    lines = period_hours(amounts, "hours", hours_rule.Sign.POSITIVE)
    emit(gateway().submit(project_id, pool_id, lines, justification, gpu_type))


@requests.command("withdraw")
@click.argument("request_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--reason", default="")
@one_line_errors
def requests_withdraw(request_id: int, reason: str) -> None:
    """Withdraw a submitted request (its requester, or an admin)."""
    emit(gateway().withdraw(request_id, reason))


@requests.command("comment")
@click.argument("request_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--text", required=True)
@one_line_errors
def requests_comment(request_id: int, text: str) -> None:
    """Comment on a request (engineers and admins)."""
    emit(gateway().comment(request_id, text))


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
    granted = period_hours(grants, "grant", hours_rule.Sign.ZERO_OR_MORE) if grants else None
    emit(gateway().approve(request_id, granted, reason))


@requests.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", required=True)
@one_line_errors
def requests_reject(request_id: int, reason: str) -> None:
    emit(gateway().reject(request_id, reason))


COMMANDS = (requests,)
