"""``gpuhours loans``: lending and borrowing inside a chair (admins; engineers read)."""

from __future__ import annotations

import click

from connectors.cli._common import one_line_errors
from connectors.cli.gateway import LoanMove, gateway
from connectors.cli.output import emit

POOL = click.option("--pool", "pool_id", required=True)
PERIOD = click.option("--period", required=True)
HOURS = click.option("--hours", required=True)
REASON = click.option("--reason", required=True)


@click.group()
def loans() -> None:
    """Lending and borrowing inside a chair: each move a journaled loan:N transfer."""


@loans.command("show")
@click.argument("chair_id")
@POOL
@PERIOD
@one_line_errors
def loans_show(chair_id: str, pool_id: str, period: str) -> None:
    """The chair's policy, its projects' limits, unused and lendable hours, and its loans."""
    emit(gateway().lending(chair_id, pool_id, period))


@loans.command("terms")
@click.argument("chair_id")
@click.option("--policy", required=True, type=click.Choice(["period_end", "recall"]))
@click.option(
    "--limit",
    "limits",
    multiple=True,
    metavar="PROJECT=LEND/BORROW",
    help="A project's lending and borrowing limits in hours (empty: no limit), e.g. p1=40/.",
)
@one_line_errors
def loans_terms(chair_id: str, policy: str, limits: tuple[str, ...]) -> None:
    """Set the chair's return policy and (some of) its projects' limits."""
    parsed = []
    for text in limits:
        project, equals, pair = text.partition("=")
        lend, slash, borrow = pair.partition("/")
        if not project or not equals or not slash:
            raise click.BadParameter(f"{text!r}: PROJECT=LEND/BORROW", param_hint="--limit")
        parsed.append((project, lend, borrow))
    emit(gateway().set_lending(chair_id, policy, parsed))


@loans.command("lend")
@click.argument("lender")
@click.argument("borrower")
@POOL
@PERIOD
@HOURS
@REASON
@one_line_errors
def loans_lend(
    lender: str, borrower: str, pool_id: str, period: str, hours: str, reason: str
) -> None:
    """LENDER lends HOURS of its unused hours to BORROWER of its chair."""
    emit(gateway().loan(LoanMove("lend", pool_id, period, lender, hours, reason, borrower)))


@loans.command("borrow")
@click.argument("borrower")
@POOL
@PERIOD
@HOURS
@REASON
@one_line_errors
def loans_borrow(borrower: str, pool_id: str, period: str, hours: str, reason: str) -> None:
    """BORROWER borrows HOURS from its chair's other projects, most lendable first."""
    emit(gateway().loan(LoanMove("borrow", pool_id, period, borrower, hours, reason)))


@loans.command("recall")
@click.argument("lender")
@POOL
@PERIOD
@HOURS
@REASON
@one_line_errors
def loans_recall(lender: str, pool_id: str, period: str, hours: str, reason: str) -> None:
    """LENDER takes HOURS back, newest loans first (a chair whose policy is recall)."""
    emit(gateway().loan(LoanMove("recall", pool_id, period, lender, hours, reason)))


@loans.command("return")
@POOL
@PERIOD
@one_line_errors
def loans_return(pool_id: str, period: str) -> None:
    """At the period's end, every open loan of the pool returns (again: nothing more)."""
    emit(gateway().return_loans(pool_id, period))


COMMANDS = [loans]
