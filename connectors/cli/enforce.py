"""``gpuhours enforce``: what the ledger allocates, Slurm enforces (README "Enforcement").

``plan`` (the default) prints what differs and changes nothing; ``diagnose ACCOUNT`` shows
the expected and actual state of one account with the ``sacctmgr`` commands that fix it;
``apply`` writes only what differs, each change audited, on clusters set to ``apply``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from allocator.enforcement import drift as drift_of
from allocator.services import enforcement as enf
from connectors.cli._common import (
    CliError,
    cli_actor,
    emit,
    one_line_errors,
    services,
    tolerance_arg,
)
from connectors.presenters import enforcement as present

if TYPE_CHECKING:  # the database side loads only when a command needs it (a fast remote CLI)
    from connectors.bootstrap import Services
    from connectors.settings import ClusterConfig

CHANGE = ("cluster", "account", "attribute", "before", "after", "action")
APPLIED = ("cluster", "account", "attribute", "before", "after", "outcome")
DRIFT = ("cluster", "account", "project_id", "gpuhours_hours", "slurm_hours", "flagged")


def _clusters(sv: Services, name: str | None, need: tuple[str, ...]) -> list[ClusterConfig]:
    """The named cluster (refused unless its ``enforce`` is one of ``need``), else every
    cluster whose ``enforce`` is."""
    if name is not None:
        config = sv.settings.cluster(name)
        if config.enforce not in need:
            raise CliError(
                f"cluster {name}: enforce is {config.enforce!r}; set it to "
                f"{' or '.join(need)} in GPUHOURS_CLUSTERS"
            )
        return [config]
    found = [c for c in sv.settings.clusters if c.enforce in need]
    if not found:
        raise CliError(f"no cluster has enforce set to {' or '.join(need)}")
    return found


def _warn(plan: enf.Plan) -> None:
    if plan.read_error:
        click.echo(f"warning: {plan.cluster}: {plan.read_error}", err=True)


@click.group(invoke_without_command=True)
@click.pass_context
def enforce(ctx: click.Context) -> None:
    """Push the ledger's allocations into Slurm's limits: plan (default), diagnose, apply."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(plan)


@enforce.command()
@click.option("--cluster", default=None, help="One cluster (default: every enforced one).")
@one_line_errors
def plan(cluster: str | None) -> None:
    """The differences between the ledger's desired state and Slurm's; changes nothing."""
    from connectors import enforcement as wiring

    sv = services()
    rows = []
    for config in _clusters(sv, cluster, ("plan", "apply")):
        result = wiring.plan(sv, cli_actor(), config)
        _warn(result)
        rows += [present.change(c) for c in result.changes]
    emit(rows, CHANGE)


@enforce.command()
@click.argument("account")
@click.option("--cluster", required=True, help="The cluster of the account.")
@one_line_errors
def diagnose(account: str, cluster: str) -> None:
    """Expected and actual limit and QOS of ACCOUNT, and the sacctmgr commands fixing them."""
    from connectors import enforcement as wiring

    sv = services()
    config = _clusters(sv, cluster, ("plan", "apply"))[0]
    result = wiring.plan(sv, cli_actor(), config)
    found = enf.diagnose(result, account)
    emit(present.diagnosis(found, wiring.weights(sv, config)))


@enforce.command()
@click.option("--cluster", default=None, help="One cluster (default: every one set to apply).")
@one_line_errors
def apply(cluster: str | None) -> None:
    """Write what differs into Slurm (clusters set to enforce=apply); each change audited."""
    from connectors import enforcement as wiring

    sv = services()
    rows, failed = [], 0
    for config in _clusters(sv, cluster, ("apply",)):
        result = wiring.plan(sv, cli_actor(), config)
        _warn(result)
        done = wiring.apply(sv, cli_actor(), config, result)
        failed += sum(1 for a in done if a.error)
        rows += [present.applied(a) for a in done]
        rows += [
            {**present.change(c), "outcome": f"skipped: {c.skipped}"}
            for c in result.changes
            if c.skipped
        ]
    emit(rows, APPLIED)
    if failed:
        raise CliError(f"{failed} change(s) failed; the next run retries them")


@enforce.command()
@click.option("--cluster", default=None, help="One cluster (default: every enforced one).")
@click.option(
    "--tolerance-seconds",
    type=int,
    default=60,
    show_default=True,
    help="Unit-seconds of difference always tolerated.",
)
@click.option(
    "--tolerance-percent",
    default="5",
    show_default=True,
    help="Percent of the larger figure tolerated (0..100, to the tenth).",
)
@one_line_errors
def drift(cluster: str | None, tolerance_seconds: int, tolerance_percent: str) -> None:
    """Slurm's usage counter of each managed account beside gpuhours' use this period."""
    tolerance = tolerance_arg(tolerance_seconds, tolerance_percent)
    from connectors import enforcement as wiring

    sv = services()
    rows = []
    for config in _clusters(sv, cluster, ("plan", "apply")):
        result = wiring.plan(sv, cli_actor(), config)
        _warn(result)
        found = drift_of(
            result.desired,
            result.actual,
            absolute=tolerance.absolute,
            relative_milli=tolerance.relative_milli,
        )
        rows += [present.drift(d) for d in found]
    emit(rows, DRIFT)


COMMANDS = (enforce,)
