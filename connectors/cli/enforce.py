"""``gpuhours enforce``: what the ledger allocates, Slurm enforces (README "Enforcement").

``plan`` (the default) prints what differs and changes nothing; ``diagnose ACCOUNT`` shows
the expected and actual state of one account with the ``sacctmgr`` commands that fix it;
``apply`` writes only what differs, each change audited, on clusters set to ``apply``.
"""

from __future__ import annotations

import click

from allocator import services as svc
from allocator.enforcement import Ladder, billing_weights, ingestion_doubt
from allocator.services import enforcement as enf
from connectors.bootstrap import Services
from connectors.cli._common import CliError, cli_actor, emit, one_line_errors, services
from connectors.presenters import enforcement as present
from connectors.settings import ClusterConfig
from connectors.slurm.sacctmgr import Sacctmgr

CHANGE = ("cluster", "account", "attribute", "before", "after", "action")
APPLIED = ("cluster", "account", "attribute", "before", "after", "outcome")


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


def _ladder(config: ClusterConfig) -> Ladder:
    return Ladder(config.qos_normal, config.qos_grace, config.qos_blocked, config.grace_milli)


def _plan(sv: Services, config: ClusterConfig) -> enf.Plan:
    now = sv.clock()
    state = sv.usage_store().state(config.name)
    unsure = ingestion_doubt(
        config.name,
        state.last_success,
        state.last_attempt,
        state.last_error,
        int(now.timestamp()),
        config.enforce_max_lag_minutes * 60,
    )
    uow = sv.uow(read_only=True)
    return svc.enforcement_plan(
        uow,
        cli_actor(),
        Sacctmgr(config.sacctmgr),
        config.name,
        _ladder(config),
        sv.consumption.within(uow),
        now=now,
        calendar=sv.settings.calendar,
        unsure=unsure,
    )


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
    sv = services()
    rows = []
    for config in _clusters(sv, cluster, ("plan", "apply")):
        result = _plan(sv, config)
        _warn(result)
        rows += [present.change(c) for c in result.changes]
    emit(rows, CHANGE)


@enforce.command()
@click.argument("account")
@click.option("--cluster", required=True, help="The cluster of the account.")
@one_line_errors
def diagnose(account: str, cluster: str) -> None:
    """Expected and actual limit and QOS of ACCOUNT, and the sacctmgr commands fixing them."""
    sv = services()
    config = _clusters(sv, cluster, ("plan", "apply"))[0]
    result = _plan(sv, config)
    found = enf.diagnose(result, account)
    with sv.uow(read_only=True) as uow:
        pools = list(uow.pools.list())
    weights: dict[str, str] = {}
    for pool in pools:
        for route, value in billing_weights(pool, sv.clock()).items():
            if route.startswith(f"{config.name}/"):
                weights[f"{pool.id}:{route}"] = value
    emit(present.diagnosis(found, weights))


@enforce.command()
@click.option("--cluster", default=None, help="One cluster (default: every one set to apply).")
@one_line_errors
def apply(cluster: str | None) -> None:
    """Write what differs into Slurm (clusters set to enforce=apply); each change audited."""
    sv = services()
    rows, failed = [], 0
    for config in _clusters(sv, cluster, ("apply",)):
        result = _plan(sv, config)
        _warn(result)
        done = svc.enforcement_apply(
            sv.uow(), cli_actor(), Sacctmgr(config.sacctmgr), result.pending, sv.clock()
        )
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


COMMANDS = (enforce,)
