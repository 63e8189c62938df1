"""``gpuhours loans``: lending and borrowing inside a chair; ``gpuhours regulation``: a pool's
regulation rule, simulated and applied (admins; engineers read)."""

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


@click.group()
def regulation() -> None:
    """Regulation of under-used grants (GENCI, TGCC), per pool: simulate, then apply once."""


@regulation.command("list")
@one_line_errors
def regulation_list() -> None:
    """Every regulated pool's rule."""
    emit(gateway().regulations())


@regulation.command("set")
@click.argument("pool_id")
@click.option("--rule", required=True, type=click.Choice(["genci", "tgcc"]))
@click.option("--to", "destination", default="chair", type=click.Choice(["chair", "pool"]))
@click.option("--after-months", type=int, help="genci: months into the grant (5)")
@click.option("--threshold-percent", type=int, help="genci: used under this (30)")
@click.option("--reclaim-percent", type=int, help="genci: reclaimed up to this (40)")
@click.option("--check-day", type=int, help="tgcc: day of each month (15)")
@click.option("--late-days", type=int, help="tgcc: days behind the linear plan (60)")
@click.option("--deduct-days", type=int, help="tgcc: days deducted (30)")
@one_line_errors
def regulation_set(pool_id: str, rule: str, destination: str, **given: int | None) -> None:
    """Set POOL_ID's rule (replacing the one set); unset parameters take the rule's defaults."""
    options = {k: v for k, v in given.items() if v is not None}
    emit(gateway().set_regulation(pool_id, rule, {"destination": destination, **options}))


@regulation.command("simulate")
@click.argument("pool_id")
@one_line_errors
def regulation_simulate(pool_id: str) -> None:
    """What each project would lose and when, at its burn rate so far (nothing written)."""
    emit(gateway().simulate_regulation(pool_id))


@regulation.command("apply")
@click.argument("pool_id")
@one_line_errors
def regulation_apply(pool_id: str) -> None:
    """Post the clawbacks due now, each once (again: nothing more)."""
    emit(gateway().apply_regulation(pool_id))


COMMANDS = [loans, regulation]
