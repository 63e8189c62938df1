"""Enforcement's wiring for every face and the scheduler: one cluster's ladder, its Slurm
(``sacctmgr`` on this host) and how sure gpuhours is of its usage, into a plan or an apply."""

from __future__ import annotations

from allocator import services as svc
from allocator.enforcement import Ladder, billing_weights, ingestion_doubt
from allocator.model import User
from allocator.services import enforcement as enf
from allocator.sync import Sync, structural
from connectors.bootstrap import Services
from connectors.settings import ClusterConfig
from connectors.slurm.sacctmgr import Sacctmgr


def ladder(config: ClusterConfig) -> Ladder:
    return Ladder(config.qos_normal, config.qos_grace, config.qos_blocked, config.grace_milli)


def slurm(config: ClusterConfig) -> Sacctmgr:
    return Sacctmgr(config.sacctmgr)


def doubt(sv: Services, config: ClusterConfig) -> str:
    """Why the cluster's usage may be behind (``""``: trusted), from its ingestion state."""
    state = sv.usage_store().state(config.name)
    return ingestion_doubt(
        config.name,
        state.last_success,
        state.last_attempt,
        state.last_error,
        int(sv.clock().timestamp()),
        config.enforce_max_lag_minutes * 60,
    )


def plan(sv: Services, actor: User, config: ClusterConfig) -> enf.Plan:
    uow = sv.uow(read_only=True)
    return svc.enforcement_plan(
        uow,
        actor,
        slurm(config),
        config.name,
        ladder(config),
        sv.consumption.within(uow),
        now=sv.clock(),
        calendar=sv.settings.calendar,
        unsure=doubt(sv, config),
        sync=Sync(config.sync_root, config.sync_removals) if config.sync_accounts else None,
    )


def apply(sv: Services, actor: User, config: ClusterConfig, result: enf.Plan) -> list[enf.Applied]:
    """Write the plan's pending changes; when sync made accounts or users, plan again and
    write the rest (the new accounts' limits, QOS and counters), so one apply converges."""
    enf.note_unread(sv.uow(), actor, result, sv.clock())
    done = svc.enforcement_apply(sv.uow(), actor, slurm(config), result.pending, sv.clock())
    if structural(a.change for a in done if not a.error):
        again = plan(sv, actor, config)
        done += svc.enforcement_apply(sv.uow(), actor, slurm(config), again.pending, sv.clock())
    return done


def weights(sv: Services, config: ClusterConfig) -> dict[str, str]:
    """The ``TRESBillingWeights`` each pool routed to the cluster needs, by ``pool:route``."""
    with sv.uow(read_only=True) as uow:
        pools = list(uow.pools.list())
    out: dict[str, str] = {}
    for pool in pools:
        for route, value in billing_weights(pool, sv.clock()).items():
            if route.startswith(f"{config.name}/"):
                out[f"{pool.id}:{route}"] = value
    return out


def plan_and_apply(sv: Services, actor: User, config: ClusterConfig) -> list[enf.Applied]:
    """One scheduled run on a cluster set to ``apply``: plan, write what differs, and record
    the run in ``sv.enforce_runs``."""
    result = plan(sv, actor, config)
    done = apply(sv, actor, config, result)
    sv.enforce_runs.record(config.name, sv.clock().timestamp(), result, done)
    return done
